"""The Corpora page: what the store holds, adding documents as a job with a live
progress bar, cancelling jobs, removing a corpus or one model's rows, and a corpus's
annotation at a glance.

Jobs live in the store (db/jobs.py), so the progress survives a reload and every
person who opens the page sees the same; workers (`exbert worker`, or those that
`exbert serve` starts) do the ingesting.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from dashapp.callbacks import Callbacks, explorer
from dashapp.figures.charts import FIGURE_CONFIG, distribution_figure, empty_figure
from explore.corpora import MAX_UPLOAD_BYTES, CorpusRow
from explore.errors import QueryTimeout, StoreUnavailable, UserError

PATH = "/corpora"
TITLE = "Corpora"
registry = Callbacks()

TABLE, JOBS, TICK = "corpora-table", "corpora-jobs", "corpora-tick"
UPLOAD, FILES, PASTE = "corpora-upload", "corpora-files", "corpora-paste"
NAME, MODEL, LAYERS, ADD, ADDED = (
    "corpora-name",
    "corpora-model",
    "corpora-layers",
    "corpora-add",
    "corpora-added",
)
CANCEL = "corpora-cancel"
DEL_CORPUS, DEL_MODEL, DEL_BUTTON = "corpora-del-corpus", "corpora-del-model", "corpora-del-button"
CONFIRM, CONFIRM_YES, DELETED = "corpora-confirm", "corpora-confirm-yes", "corpora-deleted"
DIST_CORPUS, DIST_GRAPH = "corpora-dist-corpus", "corpora-dist-graph"
FAILURES = (UserError, StoreUnavailable, QueryTimeout)
BAR_COLOR = {"queued": "secondary", "running": "info", "done": "success", "failed": "danger",
             "cancelled": "warning"}  # fmt: skip


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def corpus_table(rows: list[CorpusRow]) -> html.Div:
    if not rows:
        return dbc.Alert(
            ["No corpora yet. Add documents below, or run ", html.Code("exbert demo"), "."],
            color="info",
        )
    head = html.Thead(html.Tr([html.Th(h) for h in (
        "corpus", "documents", "sentences", "model", "documents for model", "tokens", "vectors on disk")]))  # fmt: skip
    body = html.Tbody([
        html.Tr([html.Td(r.corpus), html.Td(f"{r.documents:,}"), html.Td(f"{r.sentences:,}"),
                 html.Td(r.model or "–"), html.Td(f"{r.model_documents:,}"), html.Td(f"{r.tokens:,}"),
                 html.Td(_size(r.bytes) if r.model else "–")])
        for r in rows
    ])  # fmt: skip
    return dbc.Table([head, body], striped=True, size="sm", id="corpora-table-rows")


def job_list(progress: list) -> html.Div:
    """One line a job: what, a progress bar, throughput, why it failed, cancel."""
    if not progress:
        return html.Small("No jobs yet.", className="text-muted")
    items = []
    for p in progress:
        pct = round(100 * p.fraction)
        label = f"{pct}%" if p.status in ("running", "queued") else p.status
        detail = (f"{p.documents_done + p.documents_failed + p.documents_rejected:,} / {p.documents:,} documents, "
                  f"{p.tokens:,} tokens, {p.tokens_per_second:,.0f} tokens/s")  # fmt: skip
        items.append(
            html.Div(
                [
                    html.Div(
                        [
                            html.B(f"job {p.id}: {p.corpus}"),
                            html.Span(f"  {p.model}", className="text-muted"),
                            html.Span(
                                f"  {p.status}",
                                className=f"ms-2 badge bg-{BAR_COLOR[p.status]} job-status",
                            ),
                        ]
                        + (
                            [
                                dbc.Button(
                                    "cancel",
                                    id={"type": CANCEL, "job": p.id},
                                    size="sm",
                                    color="link",
                                    className="py-0",
                                )
                            ]
                            if p.status in ("queued", "running")
                            else []
                        ),
                    ),  # fmt: skip
                    dbc.Progress(
                        value=pct,
                        label=label,
                        color=BAR_COLOR[p.status],
                        striped=p.status == "running",
                        animated=p.status == "running",
                        className="my-1 job-progress",
                    ),  # fmt: skip
                    html.Small(detail, className="text-muted"),
                    html.Div(html.Small(p.errors, className="text-danger job-errors"))
                    if p.errors
                    else None,
                ],
                className="mb-3",
                id={"type": "corpora-job", "job": p.id},
            )
        )
    return html.Div(items)


def layout(rows: list[CorpusRow], problem: str | None = None, models: list[str] = ()) -> html.Div:
    if problem:
        return dbc.Alert(problem, color="danger")
    corpora_ = sorted({r.corpus for r in rows})
    add = dbc.Card(dbc.CardBody([
        html.H6("Add documents"),
        dbc.Row([
            dbc.Col(dbc.Input(id=NAME, placeholder="corpus (new or existing)", maxLength=100), md=4),
            dbc.Col(dcc.Dropdown(id=MODEL, options=list(models), value=models[0] if models else None,
                                 clearable=False), md=5),  # fmt: skip
            dbc.Col(dbc.Input(id=LAYERS, placeholder="layers: all, or 0,3", value=""), md=3),
        ], className="g-2 mb-2"),
        dcc.Upload(id=UPLOAD, multiple=True, accept=".txt,.jsonl,text/plain",
                   children=html.Div(["Drop .txt or .jsonl files here, or ", html.A("choose files")]),
                   className="border border-2 rounded p-3 text-center mb-2",
                   style={"borderStyle": "dashed"}),  # fmt: skip
        html.Div(id=FILES, className="small text-muted mb-2"),
        dcc.Textarea(id=PASTE, placeholder="... or paste text (one document)",
                     style={"width": "100%", "height": "90px"}),  # fmt: skip
        dbc.Button("Add", id=ADD, color="primary", className="mt-2"),
        html.Div(id=ADDED, className="mt-2"),
    ]), className="mb-3")  # fmt: skip
    remove = dbc.Card(dbc.CardBody([
        html.H6("Remove"),
        dbc.Row([
            dbc.Col(dcc.Dropdown(id=DEL_CORPUS, options=corpora_, placeholder="corpus"), md=5),
            dbc.Col(dcc.Dropdown(id=DEL_MODEL, options=list(models), placeholder="only this model's rows (optional)"), md=5),
            dbc.Col(dbc.Button("Remove…", id=DEL_BUTTON, color="danger", outline=True), md=2),
        ], className="g-2"),
        dbc.Modal([
            dbc.ModalHeader(dbc.ModalTitle("Remove for good?")),
            dbc.ModalBody(id=f"{CONFIRM}-body"),
            dbc.ModalFooter([dbc.Button("Remove", id=CONFIRM_YES, color="danger")]),
        ], id=CONFIRM, is_open=False),
        html.Div(id=DELETED, className="mt-2"),
    ]), className="mb-3")  # fmt: skip
    glance = dbc.Card(dbc.CardBody([
        html.H6("A corpus at a glance"),
        dcc.Dropdown(id=DIST_CORPUS, options=corpora_, value=corpora_[0] if corpora_ else None),
        dcc.Graph(id=DIST_GRAPH, figure=empty_figure(), config=FIGURE_CONFIG),
    ]))  # fmt: skip
    return html.Div([
        html.H4("Corpora"),
        html.Div(corpus_table(rows), id=TABLE),
        dbc.Row([
            dbc.Col([add, remove], lg=6),
            dbc.Col([html.H6("Jobs"), html.Div(id=JOBS)], lg=6),
        ]),
        glance,
        dcc.Interval(id=TICK, interval=1000),
        dcc.Store(id=f"{UPLOAD}-ok"),
    ])  # fmt: skip


# the browser checks the upload's size before sending it: a file too big for the page
# gets a message at once, not a refused request
registry.clientside(
    f"""function (contents, names) {{
        if (!contents) {{ return [null, ""]; }}
        const bytes = contents.reduce((n, c) => n + Math.floor((c.length - c.indexOf(',') - 1) * 3 / 4), 0);
        if (bytes > {MAX_UPLOAD_BYTES}) {{
            return [null, "Too big for the page: " + (bytes / 1048576).toFixed(1) +
                " MB (at most {MAX_UPLOAD_BYTES // 2**20} MB). Add big corpora with exbert ingest --queue."];
        }}
        return [{{names: names, contents: contents}}, names.join(", ")];
    }}""",
    Output(f"{UPLOAD}-ok", "data"),
    Output(FILES, "children"),
    Input(UPLOAD, "contents"),
    State(UPLOAD, "filename"),
)


@registry(
    Output(ADDED, "children"),
    Output(UPLOAD, "contents"),
    Output(PASTE, "value"),
    Input(ADD, "n_clicks"),
    State(f"{UPLOAD}-ok", "data"),
    State(PASTE, "value"),
    State(NAME, "value"),
    State(MODEL, "value"),
    State(LAYERS, "value"),
    prevent_initial_call=True,
)
def add_documents(_, upload, pasted, corpus, model, layers):
    names, contents = (upload or {}).get("names") or [], (upload or {}).get("contents") or []
    files = list(zip(names, contents, strict=False))
    try:
        chosen = _layers(layers)
        job_id, errors = explorer().add_documents(corpus, model, chosen, files, pasted)
    except FAILURES as err:
        return dbc.Alert(str(err), color="warning"), no_update, no_update
    note = [f"Job {job_id} queued: its progress is under Jobs."]
    if errors:
        note.append(html.Br())
        note.append("Not added: " + "; ".join(f"{e.source} {e.message}" for e in errors[:5]))
    return (
        dbc.Alert(note, color="success" if not errors else "warning", id="corpora-added-note"),
        None,
        "",
    )


def _active(p) -> bool:
    """Running, or ended in the last few seconds (its last documents are in the table now)."""
    if p.status in ("queued", "running"):
        return True
    ended = p.finished_at or p.cancelled_at
    return ended is not None and (datetime.now(UTC) - ended).total_seconds() < 5


def _layers(value: str | None) -> list[int] | None:
    value = (value or "").strip()
    if value in ("", "all"):
        return None
    try:
        return sorted({int(x) for x in value.split(",") if x.strip()})
    except ValueError:
        raise UserError("Layers: all, or numbers like 0,3,5.") from None


@registry(
    Output(JOBS, "children"),
    Output(TABLE, "children"),
    Input(TICK, "n_intervals"),
    Input({"type": CANCEL, "job": ALL}, "n_clicks"),
    Input(DELETED, "children"),
)
def refresh(_, cancels, __):
    return jobs_and_table(ctx.triggered_id, cancels)


def jobs_and_table(trigger, cancels: list | None = None):
    """The job list and (when due) the corpus table, after a cancel click if that was
    the trigger. The table is recounted while a job runs, on a removal and on a cancel;
    not on every tick of an idle page (its counts scan the corpora)."""
    if isinstance(trigger, dict) and any(cancels or []):
        try:
            explorer().cancel_job(trigger["job"])
        except FAILURES:
            pass
    try:
        progress = explorer().jobs()
        due = trigger != TICK or any(_active(p) for p in progress)
        table = corpus_table(explorer().corpus_overview()) if due else no_update
    except FAILURES as err:
        return dbc.Alert(str(err), color="warning"), no_update
    return job_list(progress), table


@registry(
    Output(CONFIRM, "is_open"),
    Output(f"{CONFIRM}-body", "children"),
    Output(DELETED, "children"),
    Input(DEL_BUTTON, "n_clicks"),
    Input(CONFIRM_YES, "n_clicks"),
    State(DEL_CORPUS, "value"),
    State(DEL_MODEL, "value"),
    prevent_initial_call=True,
)
def remove(_, __, corpus, model):
    if ctx.triggered_id == DEL_BUTTON:
        if not corpus:
            return False, no_update, dbc.Alert("Choose a corpus.", color="warning")
        what = (f"{model}'s tokens, vectors and attention of {corpus!r}" if model
                else f"the corpus {corpus!r}: its documents, annotation, vectors and statistics")  # fmt: skip
        return True, f"This removes {what}. It cannot be undone.", no_update
    try:
        message = explorer().delete(corpus, model)
    except FAILURES as err:
        return False, no_update, dbc.Alert(str(err), color="warning")
    return False, no_update, dbc.Alert(message, color="success", id="corpora-deleted-note")


@registry(Output(DIST_GRAPH, "figure"), Input(DIST_CORPUS, "value"))
def show_distribution(corpus):
    if not corpus:
        return empty_figure()
    try:
        return distribution_figure(explorer().distribution(corpus), corpus)
    except FAILURES:
        return empty_figure()
