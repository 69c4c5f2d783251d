"""Corpus search: the selected token's nearest corpus tokens and what they have in common.

A self-contained panel: it owns its ids, reads what to search from its own
`QUERY` store (which the page that holds it fills with {model, sentence,
token, layer, heads}) and writes a sentence to open into its `OPEN` store when
a result is clicked; it knows nothing of the page's other state. A search runs
`Explorer.search`, the same as POST /api/search.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from dashapp.callbacks import Callbacks, explorer
from dashapp.figures import charts
from dashapp.figures.attention import display_label
from explore import export
from explore.errors import QueryTimeout, StoreUnavailable, UserError
from explore.search import MAX_K
from explore.serialize import search_json

registry = Callbacks()

QUERY = "search-query"  # in: {model, sentence, token, layer, heads} from the page
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
SUMMARY = "search-summary"
RESULTS = "search-results"
DATA = "search-data"
CSV_BUTTON = "search-csv-button"
DOWNLOAD = "search-download"
RESULT = "search-result"  # pattern-matching id {"type": RESULT, "index": i}
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
                dcc.Store(id=OPEN),
                dcc.Store(id=DATA),
                dcc.Download(id=DOWNLOAD),
                html.Div(id=MESSAGE, className="mt-2"),
                dcc.Loading(html.Div([html.Div(id=SUMMARY), html.Div(id=RESULTS)]), delay_show=150),
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


@registry(Output(BUTTON, "disabled"), Output(BUTTON, "children"), Input(QUERY, "data"))
def button_state(query):
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


@registry(
    output=dict(data=Output(DATA, "data"), message=Output(MESSAGE, "children")),
    inputs=dict(clicks=Input(BUTTON, "n_clicks")),
    state=dict(query=State(QUERY, "data"), form=FORM),
    prevent_initial_call=True,
)
def run_search(clicks, query, form):
    request = request_of(query, form)
    try:
        result = explorer().search(request)
    except FAILURES as err:
        return {"data": None, "message": dbc.Alert(str(err), color="danger")}
    payload = search_json(result)
    payload["request"] = request
    note = (
        f"{len(result.matches)} matches in {result.seconds * 1000:.0f} ms "
        f"({'exact scan' if result.exact else 'HNSW index'})."
    )
    if not result.matches:
        note += " Nothing qualifies: loosen the filters."
    return {"data": payload, "message": html.Small(note, className="text-muted", id="search-note")}


def _sentence(result: dict) -> list:
    """The sentence as written, one span per word (its pieces merged), match and most-attended marked."""
    text, out, cursor = result["text"], [], 0
    groups: list[list[dict]] = []
    for t in result["tokens"]:
        if t["is_special"] or t["end"] <= t["start"]:
            continue
        same_word = (
            groups
            and t["word"]
            and groups[-1][0]["word"]
            and t["word"]["index"] == groups[-1][0]["word"]["index"]
        )
        if same_word:
            groups[-1].append(t)
        else:
            groups.append([t])
    for group in groups:
        start, end = min(t["start"] for t in group), max(t["end"] for t in group)
        if start < cursor:
            continue  # overlapping pieces (byte-level BPE) already shown
        out.append(text[cursor:start])
        word = group[0]["word"] or {}
        positions = {t["position"] for t in group}
        title = f"{word.get('text', '')}: lemma {word.get('lemma', '')}, {word.get('pos', '')} ({word.get('tag', '')}), "
        title += f"{word.get('dep', '')} → {word.get('head_text', '')}"
        if word.get("ent_type"):
            title += f", entity {word['ent_type']}"
        style = {}
        if result["match_index"] in positions:
            style = {"background": "#cfe2ff", "fontWeight": "bold", "color": "#084298"}
        elif result["max_attention_index"] in positions:
            style = {
                "textDecoration": "underline",
                "textDecorationColor": "#ff7f0e",
                "textDecorationThickness": "3px",
            }
        out.append(html.Span(text[start:end], title=title, style=style, className="search-token"))
        cursor = end
    out.append(text[cursor:])
    return out


@registry(Output(SUMMARY, "children"), Output(RESULTS, "children"), Input(DATA, "data"))
def render_results(payload):
    if not payload or not payload["results"]:
        return None, None
    summary = payload["summary"]
    matched = (
        "next token after each match (causal model)"
        if summary["match_is_next_token"]
        else "matches"
    )
    graphs = []
    for name in ("pos", "dep", "ent_type"):
        graphs.append(
            dbc.Col(
                dcc.Graph(
                    figure=charts.summary_bars(
                        summary["match"][name], f"{matched}: {charts.SUMMARY_TITLES[name]}"
                    ),
                    config={"displayModeBar": False},
                ),
                md=4,
            )
        )
    for name in ("pos", "dep", "ent_type"):
        graphs.append(
            dbc.Col(
                dcc.Graph(
                    figure=charts.summary_bars(
                        summary["max_attention"][name],
                        f"most attended: {charts.SUMMARY_TITLES[name]}",
                        colour="#ff7f0e",
                    ),
                    config={"displayModeBar": False},
                ),
                md=4,
            )
        )
    graphs.append(
        dbc.Col(
            dcc.Graph(
                figure=charts.offset_bars(summary["offset"]), config={"displayModeBar": False}
            ),
            md=6,
        )
    )
    rows = [
        html.Div(
            [html.Span(f"{r['score']:.3f}", className="badge bg-secondary me-2"), *_sentence(r)],
            id={"type": RESULT, "index": i},
            n_clicks=0,
            className="search-result border-bottom py-1",
            style={"cursor": "pointer"},
            title="Click to load this sentence into the attention view",
        )
        for i, r in enumerate(payload["results"])
    ]
    download = dbc.Button(
        "Download CSV", id=CSV_BUTTON, size="sm", color="secondary", outline=True, className="mb-2"
    )
    legend = html.Small(
        [
            "match in ",
            html.Span("blue", style={"color": "#084298", "fontWeight": "bold"}),
            ", the token it attends to most ",
            html.Span(
                "underlined",
                style={"textDecoration": "underline", "textDecorationColor": "#ff7f0e"},
            ),
            " (summed over the selected heads, special tokens left out).",
        ],
        className="text-muted",
    )
    return dbc.Row(graphs, className="g-1"), html.Div(
        [download, html.Div(legend), html.Div(rows, id="search-list")]
    )


@registry(
    Output(OPEN, "data"),
    Input({"type": RESULT, "index": ALL}, "n_clicks"),
    State(DATA, "data"),
    prevent_initial_call=True,
)
def open_result(_clicks, payload):
    """A click on a result asks the page to show its sentence."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered[0]["value"] or not payload:
        return no_update  # results appearing, not a click
    try:
        return str(payload["results"][trigger["index"]]["text"])
    except (KeyError, IndexError, TypeError):
        return no_update


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
        return no_update
    try:
        result = explorer().search(payload.get("request"))
    except FAILURES:
        return no_update
    return {
        "content": export.to_csv(result.matches),
        "filename": "exbert-search.csv",
        "type": "text/csv",
    }
