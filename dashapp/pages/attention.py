"""The Attention page: exBERT's view of one sentence, layer by layer and head by head.

All view state lives in the URL query string (`dashapp/urlstate.py`); one
callback (`sync`) moves it between the URL, the controls and a store, and the
render callbacks draw from the store with cached model output
(`services.attention_view`), so moving a slider never reruns the model.
"""

from __future__ import annotations

import functools
import time
from dataclasses import replace

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from dashapp import figures, services, store_access, urlstate
from dashapp.pages import search_panel
from dashapp.urlstate import ViewState

PATH = "/"
TITLE = "Attention"

EXAMPLES = [
    "The cat sat on the mat because it was tired.",
    "The doctor asked the nurse a question. She said that she didn't know.",
    "Paris is the capital of France, and Berlin is the capital of Germany.",
    "The keys to the cabinet are on the table.",
]

# component ids
URL = "attn-url"
STATE = search_panel.STATE
SENTENCE = "attn-sentence"
RUN = "attn-run"
MODEL = "attn-model"
LAYER = "attn-layer"
HEADS = "attn-heads"
MASKS = "attn-masks"
TOKEN = "attn-token"
HIDE = "attn-hide-special"
MODE = "attn-mode"
THRESHOLD = "attn-threshold"
ALL_HEADS = "attn-all-heads"
NO_HEADS = "attn-no-heads"
GRAPH = "attn-graph"
THUMBS = "attn-thumbs"
MESSAGES = "attn-messages"
TOKEN_PANEL = "attn-token-panel"
MASK_BUTTON = "attn-mask-button"
PREDICTIONS = "attn-predictions"
COMBINE_NOTE = "attn-combine-note"
EXAMPLE = "attn-example"


def layout(models: list[str], default_model: str, notice: str | None = None) -> html.Div:
    controls = dbc.Card(
        dbc.CardBody(
            [
                html.Label("Layer", className="fw-semibold"),
                dcc.Slider(
                    id=LAYER,
                    min=0,
                    max=5,
                    step=1,
                    value=0,
                    marks=None,
                    tooltip={"placement": "bottom", "always_visible": True},
                ),
                html.Div(
                    [
                        html.Span("Heads", className="fw-semibold me-2"),
                        dbc.Button(
                            "all",
                            id=ALL_HEADS,
                            size="sm",
                            color="secondary",
                            outline=True,
                            className="me-1",
                        ),
                        dbc.Button("none", id=NO_HEADS, size="sm", color="secondary", outline=True),
                    ],
                    className="mt-3 mb-1",
                ),
                html.Small(
                    "Click a head to toggle it; hover to preview it alone.", className="text-muted"
                ),
                dcc.Graph(
                    id=THUMBS,
                    config={"displayModeBar": False},
                    figure=figures.empty_figure(),
                    clear_on_unhover=True,
                ),
                html.Hr(),
                dbc.Switch(id=HIDE, label="Hide special tokens (renormalise)", value=False),
                dbc.RadioItems(
                    id=MODE,
                    inline=True,
                    value="graph",
                    options=[
                        {"label": "Lines", "value": "graph"},
                        {"label": "Heatmap", "value": "heatmap"},
                    ],
                ),
                html.Label(
                    "Keep each token's strongest lines up to this share of its attention",
                    className="mt-2 small",
                ),
                dcc.Slider(
                    id=THRESHOLD,
                    min=0.1,
                    max=1.0,
                    step=0.05,
                    value=0.7,
                    marks={0.1: "0.1", 0.7: "0.7", 1: "1"},
                    tooltip={"placement": "bottom"},
                ),
            ]
        ),
        className="mb-3",
    )
    return html.Div(
        [
            dcc.Location(id=URL, refresh=False),
            dcc.Store(id=STATE),
            dcc.Store(id=HEADS),
            dcc.Store(id=MASKS, data=[]),
            dcc.Store(id=TOKEN),
            dbc.Row(
                [
                    dbc.Col(
                        dbc.InputGroup(
                            [
                                dbc.Input(
                                    id=SENTENCE,
                                    placeholder="Type a sentence and press Enter",
                                    debounce=False,
                                    maxLength=services.MAX_CHARS * 5,
                                    autoFocus=True,
                                ),
                                dbc.Button("Run", id=RUN, color="primary"),
                            ]
                        ),
                        md=8,
                    ),
                    dbc.Col(
                        dcc.Dropdown(
                            id=MODEL, options=models, value=default_model, clearable=False
                        ),
                        md=4,
                    ),
                ],
                className="g-2 mb-2",
            ),
            html.Div(
                [html.Small("Examples: ", className="text-muted")]
                + [
                    dbc.Button(
                        e,
                        id={"type": EXAMPLE, "index": i},
                        color="link",
                        size="sm",
                        className="p-0 me-3",
                    )
                    for i, e in enumerate(EXAMPLES)
                ],
                className="mb-2",
            ),
            html.Div(dbc.Alert(notice, color="warning") if notice else None),
            html.Div(id=MESSAGES),
            dbc.Row(
                [
                    dbc.Col(controls, lg=3),
                    dbc.Col(
                        [
                            html.Small(id=COMBINE_NOTE, className="text-muted"),
                            dcc.Loading(
                                dcc.Graph(
                                    id=GRAPH,
                                    figure=figures.empty_figure(),
                                    clear_on_unhover=True,
                                    config={"displayModeBar": False},
                                ),
                                delay_show=150,
                            ),
                        ],
                        lg=5,
                    ),
                    dbc.Col(
                        [
                            dbc.Button(
                                "Mask selected token",
                                id=MASK_BUTTON,
                                color="danger",
                                outline=True,
                                size="sm",
                                className="mb-2",
                                disabled=True,
                            ),
                            html.Div(id=TOKEN_PANEL),
                        ],
                        lg=4,
                    ),
                ]
            ),
            search_panel.layout(),
            html.H5("Predictions", className="mt-4"),
            html.Div(id=PREDICTIONS),
        ]
    )


# -- state: URL <-> controls <-> store ------------------------------------------------


@callback(
    Output(URL, "search"),
    Output(STATE, "data"),
    Output(SENTENCE, "value"),
    Output(MODEL, "value"),
    Output(LAYER, "value"),
    Output(HEADS, "data"),
    Output(MASKS, "data"),
    Output(TOKEN, "data"),
    Output(HIDE, "value"),
    Output(MODE, "value"),
    Output(THRESHOLD, "value"),
    Input(URL, "search"),
    Input(SENTENCE, "n_submit"),
    Input(RUN, "n_clicks"),
    Input({"type": EXAMPLE, "index": ALL}, "n_clicks"),
    Input(MODEL, "value"),
    Input(LAYER, "value"),
    Input(HEADS, "data"),
    Input(MASKS, "data"),
    Input(TOKEN, "data"),
    Input(HIDE, "value"),
    Input(MODE, "value"),
    Input(THRESHOLD, "value"),
    Input({"type": search_panel.RESULT, "index": ALL}, "n_clicks"),
    State(SENTENCE, "value"),
    State(STATE, "data"),
    State(search_panel.DATA, "data"),
)
def sync(
    search,
    _submit,
    _run,
    _examples,
    model,
    layer,
    heads,
    masks,
    token,
    hide,
    mode,
    threshold,
    _results,
    sentence,
    previous,
    found,
):
    """The one place view state changes: from the URL (open, back, forward) or from a control."""
    trigger = ctx.triggered_id
    if trigger is None or trigger == URL:
        state = urlstate.parse(search)
        if not state.model:
            state = replace(state, model=model)
        return (
            no_update,
            state.to_dict(),
            state.sentence,
            state.model,
            state.layer,
            None if state.heads is None else list(state.heads),
            list(state.masks),
            state.token,
            state.hide_special,
            state.mode,
            state.threshold,
        )
    if trigger == MODEL and not model:
        return (no_update,) * 11  # the dropdown cleared itself for a model it does not list
    old = ViewState.from_dict(previous)
    if trigger not in (SENTENCE, RUN):
        sentence = old.sentence  # typed text counts once Enter or Run says so
    if isinstance(trigger, dict) and trigger.get("type") == EXAMPLE:
        sentence = EXAMPLES[trigger["index"]]
    if isinstance(trigger, dict) and trigger.get("type") == search_panel.RESULT:
        if not ctx.triggered[0]["value"] or not found:
            return (no_update,) * 11  # results appearing, not a click
        sentence = found["results"][trigger["index"]]["text"]
    state = ViewState(
        sentence=(sentence or "").strip(),
        model=model or "",
        layer=int(layer or 0),
        heads=None if heads is None else tuple(heads),
        masks=tuple(masks or ()),
        token=token,
        hide_special=bool(hide),
        mode=mode or "graph",
        threshold=float(threshold if threshold is not None else urlstate.DEFAULT_THRESHOLD),
        extra=old.extra,
    )
    new_input = state.sentence != old.sentence or state.model != old.model
    if new_input:  # token positions belong to the old tokenisation
        state = replace(state, masks=(), token=None)
    if state == old:
        return (no_update,) * 11
    sentence_out = state.sentence if isinstance(trigger, dict) else no_update
    reset = list(state.masks) if new_input else no_update
    return (
        urlstate.encode(state),
        state.to_dict(),
        sentence_out,
        no_update,
        no_update,
        no_update,
        reset,
        None if new_input else no_update,
        no_update,
        no_update,
        no_update,
    )


# -- rendering -------------------------------------------------------------------------


def _hover_text(view: services.AttentionView, i: int) -> str:
    t = view.tokens[i]
    lines = [f"<b>{t.text}</b> (token {i})"]
    if t.masked:
        lines.append(f"masked with {view.mask_token}")
    if t.word:
        w = t.word
        lines += [
            f"word: {w['text']}, lemma: {w['lemma']}",
            f"POS: {w['pos']} ({w['tag']})",
            f"dependency: {w['dep']} → {w['head']}",
        ]
        if w["ent_type"]:
            lines.append(f"entity: {w['ent_type']} ({w['ent_iob']})")
    elif t.is_special:
        lines.append("special token")
    elif not view.annotated:
        lines.append("<i>reading the sentence with spaCy…</i>")
    if t.predictions:
        lines.append(
            f"<i>{view.prediction_label}</i>: "
            + ", ".join(f"{p!r} {q:.0%}" for p, q in t.predictions[:5])
        )
    return "<br>".join(lines)


@functools.lru_cache(maxsize=2)
def _allowed_models(_time_bucket: int) -> list[str]:
    return services.available_models(store_access.stored_models())


def _thumb_head(event: dict | None, view: services.AttentionView) -> int | None:
    if not event or not event.get("points"):
        return None
    point = event["points"][0]
    return figures.head_at(point["x"], point["y"], len(view.tokens), view.heads)


def _view(state: ViewState, words: bool = True) -> services.AttentionView:
    """The cached model output for a state; a model nobody offered is refused like in the API.

    With `words=False` spaCy's annotations come only if they are ready already.
    """
    model = services.check_model(state.model, _allowed_models(int(time.time() // 10)))
    return services.attention_view(model, state.sentence, state.masks, words=words)


@callback(
    Output(GRAPH, "figure"),
    Output(COMBINE_NOTE, "children"),
    Input(STATE, "data"),
    Input(GRAPH, "hoverData"),
    Input(THUMBS, "hoverData"),
)
def render_graph(data, graph_hover, thumb_hover):
    state = ViewState.from_dict(data)
    if not state.sentence:
        return figures.empty_figure(), ""
    try:
        # the graph comes first; spaCy reads the sentence meanwhile, and the next
        # render (hovering a token re-renders) carries its annotations
        view = _view(state, words=False)
    except services.UserError:
        return figures.empty_figure(), ""
    if not view.annotated:
        services.annotate_later(view.sentence)
    state = urlstate.clamp(state, view.layers, view.heads, len(view.tokens))
    heads = list(range(view.heads)) if state.heads is None else list(state.heads)
    note = (
        f"Layer {state.layer}, mean of {len(heads)} selected head{'s' if len(heads) != 1 else ''}"
    )
    focus = None
    # the hover events hold the current hover state (both clear on unhover)
    hovered = _thumb_head(thumb_hover, view)
    if hovered is not None:
        heads = [hovered]
        note = f"Layer {state.layer}, previewing head {hovered} alone"
    focus = None
    if graph_hover and "customdata" in graph_hover["points"][0]:
        focus = int(graph_hover["points"][0]["customdata"])
    labels = [figures.display_label(t.text, t.masked, view.mask_token) for t in view.tokens]
    fig = figures.attention_figure(
        view.attentions[state.layer],
        heads,
        labels,
        [t.is_special for t in view.tokens],
        [_hover_text(view, i) for i in range(len(view.tokens))],
        threshold=state.threshold,
        hide_special=state.hide_special,
        mode=state.mode,
        focus=focus,
        selected=state.token,
        masked=list(state.masks),
        causal=view.kind == "causal",
    )
    if view.kind == "causal":
        note += "; a causal model's tokens see only earlier tokens (later ones greyed)"
    return fig, note


@callback(
    Output(THUMBS, "figure"),
    Output(LAYER, "max"),
    Output(LAYER, "marks"),
    Output(MESSAGES, "children"),
    Output(TOKEN_PANEL, "children"),
    Output(MASK_BUTTON, "disabled"),
    Output(MASK_BUTTON, "children"),
    Output(PREDICTIONS, "children"),
    Input(STATE, "data"),
)
def render_side(data):
    state = ViewState.from_dict(data)
    empty = (figures.empty_figure(), no_update, no_update)
    if not state.sentence:
        return (
            *empty,
            dbc.Alert("Type a sentence, or pick an example.", color="info"),
            None,
            True,
            "Mask selected token",
            None,
        )
    try:
        view = _view(state, words=state.token is not None)  # the token panel shows its word
    except services.UserError as err:
        return (
            *empty,
            dbc.Alert(str(err), color="danger"),
            None,
            True,
            "Mask selected token",
            None,
        )
    state = urlstate.clamp(state, view.layers, view.heads, len(view.tokens))
    heads = list(range(view.heads)) if state.heads is None else list(state.heads)
    messages = []
    if view.truncated:
        messages.append(
            dbc.Alert(
                f"The input was longer than {view.model} reads at once; it was cut after "
                f"{len(view.tokens)} tokens.",
                color="warning",
            )
        )
    thumbs = figures.head_thumbnails(view.attentions[state.layer], heads)
    marks = {i: str(i) for i in range(view.layers)} if view.layers <= 12 else None
    panel = _token_panel(view, state.token)
    mask_label = "Unmask token" if state.token in state.masks else "Mask selected token"
    mask_disabled = state.token is None or not view.can_mask or view.tokens[state.token].is_special
    return (
        thumbs,
        view.layers - 1,
        marks,
        messages,
        panel,
        mask_disabled,
        mask_label,
        _predictions_table(view),
    )


def _token_panel(view: services.AttentionView, token: int | None):
    if token is None:
        return html.Small(
            "Click a token on the left of the graph to select it.", className="text-muted"
        )
    t = view.tokens[token]
    rows = [("token", f"{figures.display_label(t.text)} (position {token})")]
    if t.word:
        w = t.word
        rows += [
            ("word", w["text"]),
            ("lemma", w["lemma"]),
            ("POS", f"{w['pos']} ({w['tag']})"),
            ("dependency", f"{w['dep']} → {w['head']}"),
            ("entity", f"{w['ent_type']} ({w['ent_iob']})" if w["ent_type"] else "–"),
        ]
    table = dbc.Table([html.Tbody([html.Tr([html.Th(k), html.Td(v)]) for k, v in rows])], size="sm")
    body = [table]
    if not view.has_predictions:
        body.append(dbc.Alert(f"{view.model}: {view.prediction_label}.", color="secondary"))
    elif t.predictions:
        body.append(
            dcc.Graph(
                figure=figures.prediction_bars(
                    t.predictions, f"{view.model} {view.prediction_label}"
                ),
                config={"displayModeBar": False},
                id="attn-token-predictions",
            )
        )
    return body


def _predictions_table(view: services.AttentionView):
    if not view.has_predictions:
        return dbc.Alert(
            f"{view.model} has no language-model head, so it predicts nothing; "
            "attention and search still work.",
            color="secondary",
        )
    header = html.Thead(html.Tr([html.Th("token"), html.Th(f"top 5: {view.prediction_label}")]))
    body = []
    for t in view.tokens:
        preds = ", ".join(f"{tok!r} {p:.1%}" for tok, p in (t.predictions or []))
        style = {"color": "#d62728"} if t.masked else None
        body.append(
            html.Tr(
                [
                    html.Td(figures.display_label(t.text, t.masked, view.mask_token), style=style),
                    html.Td(preds, className="small"),
                ]
            )
        )
    return dbc.Table(
        [header, html.Tbody(body)], size="sm", striped=True, id="attn-predictions-table"
    )


# -- interactions: heads, tokens, masks --------------------------------------------------


@callback(
    Output(HEADS, "data", allow_duplicate=True),
    Input(THUMBS, "clickData"),
    Input(ALL_HEADS, "n_clicks"),
    Input(NO_HEADS, "n_clicks"),
    State(STATE, "data"),
    prevent_initial_call=True,
)
def toggle_heads(click, _all, _none, data):
    state = ViewState.from_dict(data)
    if ctx.triggered_id == ALL_HEADS:
        return None
    if ctx.triggered_id == NO_HEADS:
        return []
    if not click or not state.sentence:
        return no_update
    try:
        view = _view(state, words=False)
    except services.UserError:
        return no_update
    head = _thumb_head(click, view)
    if head is None:
        return no_update
    n_heads = view.heads
    current = set(range(n_heads)) if state.heads is None else set(state.heads)
    current ^= {head}
    return None if len(current) == n_heads else sorted(current)


@callback(
    Output(TOKEN, "data", allow_duplicate=True),
    Input(GRAPH, "clickData"),
    State(STATE, "data"),
    prevent_initial_call=True,
)
def select_token(click, data):
    if not click:
        return no_update
    point = click["points"][0]
    if "customdata" not in point:
        return no_update
    token = int(point["customdata"])
    return None if ViewState.from_dict(data).token == token else token


@callback(
    Output(MASKS, "data", allow_duplicate=True),
    Input(MASK_BUTTON, "n_clicks"),
    State(STATE, "data"),
    prevent_initial_call=True,
)
def toggle_mask(_n, data):
    state = ViewState.from_dict(data)
    if state.token is None:
        return no_update
    masks = set(state.masks) ^ {state.token}
    return sorted(masks)
