"""The SQL page: read-only queries over the store, from the browser, as datasette does.

Queries run as the role exbert_reader (explore/sql.py, db/readonly.py); the
query lives in the URL (`/sql?q=...`), so a link reproduces it; examples run with
one click; results land in a sortable grid with a CSV download; PostgreSQL's
errors are shown with a caret under the place they point at.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from dashapp.callbacks import Callbacks, explorer
from explore.errors import QueryTimeout, StoreUnavailable, UserError
from explore.sql import SQLError
from explore.sql_examples import EXAMPLES

PATH = "/sql"
TITLE = "SQL"
registry = Callbacks()

URL = "sql-url"
QUERY = "sql-query"
RUN = "sql-run"
AUTORUN = "sql-autorun"  # the query of the URL the page opened with, run once on load
EXAMPLE = "sql-example"  # pattern-matching: {"type": EXAMPLE, "index": i}
MESSAGE = "sql-message"
GRID = "sql-grid"
CSV = "sql-csv"
RESULTS = "sql-results"


def query_of(search: str | None) -> str:
    values = parse_qs((search or "").lstrip("?")).get("q")
    return values[-1] if values else ""


def layout(search: str | None = None, enabled: bool = True) -> html.Div:
    if not enabled:
        return dbc.Alert("SQL is turned off on this server (EXBERT_SQL=off).", color="secondary")
    query = query_of(search)
    examples = html.Div(
        [html.H6("Examples", className="mt-1")]
        + [
            html.Div(
                dbc.Button(
                    title.rstrip(":"),
                    id={"type": EXAMPLE, "index": i},
                    color="link",
                    size="sm",
                    className="p-0 text-start",
                ),  # fmt: skip
                className="mb-2 small",
            )
            for i, (title, _) in enumerate(EXAMPLES)
        ],
        style={"maxHeight": "70vh", "overflowY": "auto"},
    )
    editor = html.Div(
        [
            html.Small(
                [
                    "One query that reads (SELECT, WITH, VALUES), run as the read-only role ",
                    html.Code("exbert_reader"),
                    ". The tables, views and functions are described in ",
                    html.Code("docs/sql.md"),
                    ".",
                ],
                className="text-muted",
            ),
            dcc.Textarea(
                id=QUERY,
                value=query,
                spellCheck=False,
                placeholder="SELECT pos, count(*) FROM words GROUP BY pos ORDER BY 2 DESC",
                style={
                    "width": "100%",
                    "height": "220px",
                    "fontFamily": "monospace",
                    "fontSize": "0.9rem",
                },  # fmt: skip
                className="form-control mt-1",
            ),
            html.Div(
                [
                    dbc.Button("Run", id=RUN, color="primary", size="sm", className="me-2"),
                    dbc.Button("Download CSV", id=CSV, color="secondary", outline=True, size="sm"),
                ],
                className="mt-2",
            ),
            html.Div(id=MESSAGE, className="mt-2"),
            dcc.Loading(
                html.Div(
                    dag.AgGrid(
                        id=GRID,
                        rowData=[],
                        columnDefs=[],
                        defaultColDef={"sortable": True, "filter": True, "resizable": True},
                        dashGridOptions={"animateRows": False, "enableCellTextSelection": True},
                        csvExportParams={"fileName": "exbert-sql.csv"},
                        className="ag-theme-alpine",
                        style={"height": "480px"},
                    ),
                    id=RESULTS,
                    style={"display": "none"},
                ),
                delay_show=150,
                type="dot",
            ),
        ]
    )
    return html.Div(
        [
            dcc.Location(id=URL, refresh=False),
            dcc.Store(id=AUTORUN, data=query or None),
            html.H4("SQL"),
            dbc.Row([dbc.Col(examples, lg=3), dbc.Col(editor, lg=9)]),
        ]
    )


def error_view(message: str, query: str, position: int | None) -> dbc.Alert:
    """PostgreSQL's message, and the line of the query it points at with a caret under it."""
    body = [html.Div(message, className="fw-semibold")]
    if position is not None and 1 <= position <= len(query) + 1:
        start = query.rfind("\n", 0, position - 1) + 1
        end = query.find("\n", position - 1)
        line = query[start : end if end != -1 else len(query)]
        caret = " " * (position - 1 - start) + "^"
        body.append(html.Pre(f"{line}\n{caret}", className="mb-0 mt-2 small", id="sql-error-caret"))
    return dbc.Alert(body, color="danger", id="sql-error")


def columns_of(names: list[str]) -> list[dict]:
    # a field name of its own per column: names repeat (SELECT 1, 1) and may hold dots
    return [{"headerName": name, "field": f"c{i}"} for i, name in enumerate(names)]


@registry(
    output=dict(
        columns=Output(GRID, "columnDefs"),
        rows=Output(GRID, "rowData"),
        shown=Output(RESULTS, "style"),
        message=Output(MESSAGE, "children"),
        url=Output(URL, "search"),
        query=Output(QUERY, "value"),
    ),
    inputs=dict(
        run=Input(RUN, "n_clicks"),
        examples=Input({"type": EXAMPLE, "index": ALL}, "n_clicks"),
        autorun=Input(AUTORUN, "data"),
    ),
    state=dict(typed=State(QUERY, "value")),
)
def run_query(run, examples, autorun, typed):
    trigger = ctx.triggered_id
    out = dict.fromkeys(("columns", "rows", "shown", "message", "url", "query"), no_update)
    if isinstance(trigger, dict) and trigger.get("type") == EXAMPLE:
        index = trigger.get("index")
        if not isinstance(index, int) or not 0 <= index < len(EXAMPLES):
            return out
        query = EXAMPLES[index][1].strip()
        out["query"] = query
    elif trigger in (None, AUTORUN):
        if not autorun:
            return out
        query = autorun
    else:
        query = typed if isinstance(typed, str) else ""
    if trigger not in (None, AUTORUN):
        out["url"] = "?" + urlencode({"q": query})
    try:
        result = explorer().sql(query)
    except SQLError as err:
        return {
            **out,
            "shown": {"display": "none"},
            "message": error_view(str(err), query.strip(), err.position),
        }
    except (UserError, StoreUnavailable, QueryTimeout) as err:
        return {
            **out,
            "shown": {"display": "none"},
            "message": dbc.Alert(str(err), color="danger", id="sql-error"),
        }
    note = f"{len(result.rows):,} row{'s' if len(result.rows) != 1 else ''} in {result.seconds * 1000:.0f} ms"
    if result.truncated:
        note += f", truncated at {result.max_rows:,} rows (EXBERT_SQL_MAX_ROWS)"
    return {
        **out,
        "columns": columns_of(result.columns),
        "rows": [{f"c{i}": v for i, v in enumerate(row)} for row in result.rows],
        "shown": {"display": "block"},
        "message": html.Small(note + ".", className="text-muted", id="sql-note"),
    }


@registry(Output(GRID, "exportDataAsCsv"), Input(CSV, "n_clicks"), prevent_initial_call=True)
def download_csv(clicks):
    """The grid's own CSV export: what the query returned, as shown."""
    return bool(clicks)
