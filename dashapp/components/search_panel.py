"""Corpus search: the selected token's nearest corpus tokens and what they have in common.

A self-contained panel: it owns its ids, reads what to search from its own
`QUERY` store (which the page that holds it fills with {model, sentence,
token, layer, heads}, and `SELECTION` with the first three when they change) and writes a sentence to open into its `OPEN` store when
a result is clicked; it knows nothing of the page's other state. A search runs
`Explorer.search`, the same as POST /api/search.
"""

from __future__ import annotations

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, dcc, html, no_update

from dashapp.callbacks import Callbacks, explorer
from dashapp.components import figure_export, search_results
from dashapp.figures import charts
from dashapp.figures.attention import display_label
from explore import export
from explore.errors import QueryTimeout, StoreUnavailable, UserError
from explore.search import MAX_K

registry = Callbacks()

QUERY = "search-query"  # in: {model, sentence, token, layer, heads} from the page
SELECTION = "search-selection"  # in: {model, sentence, token}, changed only when those change
OPEN = "search-open"  # out: the sentence of a clicked result
CORPUS = "search-corpus"
BY = "search-by"
K = "search-k"
POS = "search-pos"
DEP = "search-dep"
ENT = "search-ent"
EXACT = "search-exact"
OWN = "search-own"
BUTTON = "search-button"
MESSAGE = "search-message"
SUMMARY = "search-summary"  # the summary figure's graph
RESULTS = "search-results"  # the area that holds the summary and the grid
GRID = "search-grid"
DATA = "search-data"  # {request, sentences}: what a CSV and a result click need
CSV_BUTTON = "search-csv-button"
DOWNLOAD = "search-download"
FAILURES = (UserError, StoreUnavailable, QueryTimeout)


def layout(
    corpora: list[str], labels: dict[str, list[str]] | None, problem: str | None = None
) -> dbc.Card:
    labels = labels or {}
    multi = lambda id_, key, text: dcc.Dropdown(  # noqa: E731
        id=id_, options=labels.get(key, []), multi=True, placeholder=text
    )
    form = dbc.Row(
        [
            dbc.Col(
                dcc.Dropdown(
                    id=CORPUS,
                    options=corpora,
                    value=corpora[0] if corpora else None,
                    placeholder="corpus",
                    clearable=False,
                ),
                md=3,
            ),
            dbc.Col(
                dbc.RadioItems(
                    id=BY,
                    value="embedding",
                    inline=True,
                    options=[
                        {"label": "by embedding", "value": "embedding"},
                        {"label": "by context (selected heads)", "value": "context"},
                    ],
                ),
                md=5,
            ),
            dbc.Col(
                dbc.InputGroup(
                    [
                        dbc.InputGroupText("k"),
                        dbc.Input(id=K, type="number", min=1, max=MAX_K, value=50),
                    ]
                ),
                md=2,
            ),
            dbc.Col(
                dbc.Button("Search", id=BUTTON, color="primary", disabled=True, className="w-100"),
                md=2,
            ),
            dbc.Col(multi(POS, "pos", "only POS..."), md=3, className="mt-2"),
            dbc.Col(multi(DEP, "dep", "only dependency..."), md=3, className="mt-2"),
            dbc.Col(multi(ENT, "ent_type", "only entity type..."), md=3, className="mt-2"),
            dbc.Col(
                [
                    dbc.Checkbox(id=EXACT, label="exact", value=False),
                    dbc.Checkbox(id=OWN, label="include own sentence", value=False),
                ],
                md=3,
                className="mt-2",
            ),
        ],
        className="g-2",
    )
    return dbc.Card(
        dbc.CardBody(
            [
                html.H5("Corpus search", className="card-title"),
                html.Small(
                    "Select a token in the graph, then find the corpus tokens most like it at this layer.",
                    className="text-muted",
                ),
                dbc.Alert(problem, color="warning") if problem else form,
                dcc.Store(id=QUERY),
                dcc.Store(id=SELECTION),
                dcc.Store(id=OPEN),
                dcc.Store(id=DATA),
                dcc.Download(id=DOWNLOAD),
                html.Div(id=MESSAGE, className="mt-2"),
                dcc.Loading(results_area(), delay_show=100, type="dot"),
            ]
        ),
        className="mt-4",
    )


def request_of(query: dict | None, form: dict) -> dict:
    """The search request (as POST /api/search takes it) for a page's query and the form;
    the explorer checks every value."""
    query = query if isinstance(query, dict) else {}
    form = form if isinstance(form, dict) else {}
    k = form.get("k")
    return {
        "model": query.get("model"),
        "corpus": form.get("corpus"),
        "sentence": query.get("sentence"),
        "token_index": query.get("token"),
        "layer": query.get("layer", 0),
        "heads": query.get("heads"),
        "by": form.get("by") or "embedding",
        "k": k if isinstance(k, int) else 50,
        "filters": {
            "pos": form.get("pos") or [],
            "dep": form.get("dep") or [],
            "ent_type": form.get("ent") or [],
        },
        "exact": bool(form.get("exact")),
        "exclude_own_sentence": not form.get("own"),
    }


@registry(Output(BUTTON, "disabled"), Output(BUTTON, "children"), Input(SELECTION, "data"))
def button_state(query):
    """Enabled, and naming the token, once a word token is selected."""
    if not isinstance(query, dict) or not query.get("sentence"):
        return True, "Search"
    token = query.get("token")
    if isinstance(token, bool) or not isinstance(token, int) or token < 0:
        return True, "Search"
    try:
        view = explorer().attention(query.get("model"), query["sentence"], words=False)
        if token >= len(view.tokens) or view.tokens[token].is_special:
            return True, "Search"
        label = display_label(view.tokens[token].text)
    except UserError:
        return True, "Search"
    return False, f"Search '{label}'"


GRID_OPTIONS = {"animateRows": False, "suppressCellFocus": True}
FORM = dict(
    corpus=State(CORPUS, "value"),
    by=State(BY, "value"),
    k=State(K, "value"),
    pos=State(POS, "value"),
    dep=State(DEP, "value"),
    ent=State(ENT, "value"),
    exact=State(EXACT, "value"),
    own=State(OWN, "value"),
)


def results_area() -> html.Div:
    """The summary figure and the results grid, hidden until a search has results. Always
    in the page: a search only fills them, so no callback fires for components appearing."""
    legend = html.Small(
        "Click a row to load its sentence; hover a word for its annotation. Sort and filter "
        "by any column.",
        className="text-muted ms-2",
    )
    return html.Div(
        [
            html.Div(
                [
                    dbc.Button(
                        "Download CSV", id=CSV_BUTTON, size="sm", color="secondary", outline=True
                    ),
                    legend,
                    html.Div(figure_export.buttons(SUMMARY, "search-summary"), className="ms-auto"),
                ],
                className="d-flex align-items-center mt-2",
            ),
            dcc.Graph(id=SUMMARY, figure=charts.empty_figure(), config=charts.FIGURE_CONFIG),
            dag.AgGrid(
                id=GRID,
                columnDefs=search_results.COLUMNS,
                rowData=[],
                defaultColDef={"sortable": True, "filter": True, "resizable": True},
                getRowId="params.data.id",
                dashGridOptions=GRID_OPTIONS,
                className="ag-theme-alpine",
                style={"height": "520px"},
            ),
        ],
        id=RESULTS,
        style={"display": "none"},
    )


@registry(
    output=dict(
        data=Output(DATA, "data"),
        message=Output(MESSAGE, "children"),
        shown=Output(RESULTS, "style"),
        summary=Output(SUMMARY, "figure"),
        rows=Output(GRID, "rowData"),
        options=Output(GRID, "dashGridOptions"),
    ),
    inputs=dict(clicks=Input(BUTTON, "n_clicks")),
    state=dict(query=State(QUERY, "data"), form=FORM),
    running=[(Output(BUTTON, "disabled"), True, False)],
    prevent_initial_call=True,
)
def run_search(clicks, query, form):
    request = request_of(query, form)
    hidden = {"display": "none"}
    try:
        result = explorer().search(request)
    except FAILURES as err:
        return {"data": None, "message": dbc.Alert(str(err), color="danger"), "shown": hidden,
                "summary": no_update, "rows": no_update, "options": no_update}  # fmt: skip
    note = (
        f"{len(result.matches)} matches in {result.seconds * 1000:.0f} ms "
        f"({'exact scan' if result.exact else 'HNSW index'})."
    )
    if not result.matches:
        note += " Nothing qualifies: loosen the filters."
    rows, labels = search_results.grid_rows(result.matches)
    return {
        "data": {"request": request, "sentences": [m.text for m in result.matches]},
        "message": html.Small(note, className="text-muted", id="search-note"),
        "shown": {"display": "block"} if result.matches else hidden,
        "summary": charts.summary_figure(result.summary),
        "rows": rows,
        # the annotations the rows' words point into (the cell renderer reads them)
        "options": {**GRID_OPTIONS, "context": {"labels": labels}},
    }


# A click on a result row asks the page to show its sentence (assets/exbert.js, openResult:
# the row's sentence from DATA, in the browser).
registry.clientside(
    ClientsideFunction(namespace="exbert", function_name="openResult"),
    Output(OPEN, "data"),
    Input(GRID, "cellClicked"),
    State(DATA, "data"),
    prevent_initial_call=True,
)


@registry(
    Output(DOWNLOAD, "data"),
    Input(CSV_BUTTON, "n_clicks"),
    State(DATA, "data"),
    prevent_initial_call=True,
)
def download_csv(n, payload):
    """The CSV of the search shown, rerun on the server from its request (the page
    keeps only what it shows)."""
    if not n or not isinstance(payload, dict):
        return no_update  # a new results area, not a click
    try:
        result = explorer().search(payload.get("request"))
    except FAILURES:
        return no_update
    return {
        "content": export.to_csv(result.matches),
        "filename": "exbert-search.csv",
        "type": "text/csv",
    }
