"""Corpus search on the Attention page: the selected token's nearest corpus tokens and their summary.

A search runs `dashapp.search.search` (the same function as POST /api/search);
results and histograms are rendered from its JSON; clicking a result loads that
sentence into the attention view (through the page's sync callback).
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update

from dashapp import figures, search, services, store_access
from dashapp.urlstate import ViewState
from db.search import SearchError

STATE = "attn-state"  # the attention page's view state store
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


def _corpus_options() -> tuple[list[str], dict[str, list[str]], str | None]:
    try:
        from db.stats import corpus_counts

        factory = store_access.session_factory()
        with factory.begin() as s:
            corpora = sorted({r.corpus for r in corpus_counts(s)})
        known = search.known_labels(factory)
        labels = {k: sorted(v for v in values if v) for k, values in known.items()}
        return corpora, labels, None
    except store_access.StoreUnavailable as err:
        return [], {"pos": [], "dep": [], "ent_type": []}, str(err)


def layout() -> dbc.Card:
    corpora, labels, problem = _corpus_options()
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
                        dbc.Input(id=K, type="number", min=1, max=search.MAX_K, value=50),
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
                dcc.Store(id=DATA),
                dcc.Download(id=DOWNLOAD),
                html.Div(id=MESSAGE, className="mt-2"),
                dcc.Loading(html.Div([html.Div(id=SUMMARY), html.Div(id=RESULTS)]), delay_show=150),
            ]
        ),
        className="mt-4",
    )


@callback(
    Output(BUTTON, "disabled"),
    Output(BUTTON, "children"),
    Input(STATE, "data"),
)
def button_state(data):
    state = ViewState.from_dict(data)
    if not state.sentence or state.token is None:
        return True, "Search"
    try:
        view = services.attention_view(state.model, state.sentence, state.masks, words=False)
        label = figures.display_label(view.tokens[state.token].text)
    except (services.UserError, IndexError):
        return True, "Search"
    return False, f"Search '{label}'"


@callback(
    Output(DATA, "data"),
    Output(MESSAGE, "children"),
    Input(BUTTON, "n_clicks"),
    State(STATE, "data"),
    State(CORPUS, "value"),
    State(BY, "value"),
    State(K, "value"),
    State(POS, "value"),
    State(DEP, "value"),
    State(ENT, "value"),
    State(EXACT, "value"),
    State(OWN, "value"),
    prevent_initial_call=True,
)
def run_search(_n, data, corpus, by, k, pos, dep, ent, exact, own):
    state = ViewState.from_dict(data)
    request = {
        "model": state.model,
        "corpus": corpus,
        "sentence": state.sentence,
        "token_index": state.token,
        "layer": state.layer,
        "heads": None if state.heads is None else list(state.heads),
        "by": by,
        "k": k if isinstance(k, int) else 50,
        "filters": {"pos": pos or [], "dep": dep or [], "ent_type": ent or []},
        "exact": bool(exact),
        "exclude_own_sentence": not own,
    }
    try:
        allowed = services.available_models(store_access.stored_models())
        result = search.search(
            store_access.session_factory(), search.parse_request(request, allowed)
        )
    except (services.UserError, SearchError, store_access.StoreUnavailable) as err:
        return None, dbc.Alert(str(err), color="danger")
    payload = result.to_json()
    payload["request"] = request
    note = (
        f"{len(result.results)} matches in {result.seconds * 1000:.0f} ms "
        f"({'exact scan' if result.exact else 'HNSW index'})."
    )
    if not result.results:
        note += " Nothing qualifies: loosen the filters."
    return payload, html.Small(note, className="text-muted", id="search-note")


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
        title += f"{word.get('dep', '')} → {word.get('head', '')}"
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


@callback(
    Output(SUMMARY, "children"),
    Output(RESULTS, "children"),
    Input(DATA, "data"),
)
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
                    figure=figures.summary_bars(
                        summary["match"][name], f"{matched}: {figures.SUMMARY_TITLES[name]}"
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
                    figure=figures.summary_bars(
                        summary["max_attention"][name],
                        f"most attended: {figures.SUMMARY_TITLES[name]}",
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
                figure=figures.offset_bars(summary["offset"]), config={"displayModeBar": False}
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


@callback(
    Output(DOWNLOAD, "data"),
    Input(CSV_BUTTON, "n_clicks"),
    State(DATA, "data"),
    prevent_initial_call=True,
)
def download_csv(n, payload):
    if not n or not payload:
        return no_update
    result = search.SearchResult(
        request=None,
        kind=payload["kind"],
        exact=payload["exact"],
        results=payload["results"],
        summary=payload["summary"],
        seconds=0.0,
    )
    return {"content": search.to_csv(result), "filename": "exbert-search.csv", "type": "text/csv"}
