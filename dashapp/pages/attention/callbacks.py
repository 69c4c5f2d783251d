"""The Attention page's callbacks: each parses its inputs, asks the explorer for the view
(cached: moving a slider never reruns the model), and hands it to components.py."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, no_update

from dashapp.callbacks import Callbacks, explorer
from dashapp.components import search_panel
from dashapp.pages.attention import components, ids, state
from dashapp.urlstate import ViewState
from explore.errors import UserError

registry = Callbacks()

CONTROLS = dict(
    model=Input(ids.MODEL, "value"),
    layer=Input(ids.LAYER, "value"),
    heads=Input(ids.HEADS, "data"),
    masks=Input(ids.MASKS, "data"),
    token=Input(ids.TOKEN, "data"),
    hide=Input(ids.HIDE, "value"),
    mode=Input(ids.MODE, "value"),
    threshold=Input(ids.THRESHOLD, "value"),
)


@registry(
    output=dict(
        url=Output(ids.URL, "search"),
        state=Output(ids.STATE, "data"),
        sentence=Output(ids.SENTENCE, "value"),
        model=Output(ids.MODEL, "value"),
        layer=Output(ids.LAYER, "value"),
        heads=Output(ids.HEADS, "data"),
        masks=Output(ids.MASKS, "data"),
        token=Output(ids.TOKEN, "data"),
        hide=Output(ids.HIDE, "value"),
        mode=Output(ids.MODE, "value"),
        threshold=Output(ids.THRESHOLD, "value"),
    ),
    inputs=dict(
        search=Input(ids.URL, "search"),
        submit=Input(ids.SENTENCE, "n_submit"),
        run=Input(ids.RUN, "n_clicks"),
        examples=Input({"type": ids.EXAMPLE, "index": ALL}, "n_clicks"),
        opened=Input(search_panel.OPEN, "data"),
        controls=CONTROLS,
    ),
    state=dict(typed=State(ids.SENTENCE, "value"), previous=State(ids.STATE, "data")),
)
def sync(search, submit, run, examples, opened, controls, typed, previous):
    """The one place view state changes: from the URL (open, back, forward) or from a control."""
    trigger = ctx.triggered_id
    if trigger == search_panel.OPEN:
        trigger = state.OPEN
    return state.sync(trigger, search, controls, typed, previous, opened)


def _view(data: dict | None, words: bool):
    """The state and its view (None when there is nothing to show)."""
    view_state = ViewState.from_dict(data)
    if not view_state.sentence:
        return view_state, None
    return view_state, explorer().attention(
        view_state.model, view_state.sentence, view_state.masks, words=words
    )


@registry(
    Output(ids.GRAPH, "figure"),
    Output(ids.COMBINE_NOTE, "children"),
    Input(ids.STATE, "data"),
    Input(ids.GRAPH, "hoverData"),
    Input(ids.THUMBS, "hoverData"),
)
def render_graph(data, graph_hover, thumb_hover):
    try:
        # the graph comes first; spaCy reads the sentence meanwhile, and the next
        # render (hovering a token re-renders) carries its annotations
        view_state, view = _view(data, words=False)
    except UserError:
        return components.placeholder(), ""
    if view is None:
        return components.placeholder(), ""
    if not view.annotated:
        explorer().views.annotate_later(view.sentence)
    # the hover events hold the current hover state (both clear on unhover)
    preview = components.hovered_head(thumb_hover, view)
    return components.graph(view, view_state, preview, components.hovered_token(graph_hover))


@registry(
    output=dict(
        thumbs=Output(ids.THUMBS, "figure"),
        layer_max=Output(ids.LAYER, "max"),
        layer_marks=Output(ids.LAYER, "marks"),
        messages=Output(ids.MESSAGES, "children"),
        panel=Output(ids.TOKEN_PANEL, "children"),
        mask_disabled=Output(ids.MASK_BUTTON, "disabled"),
        mask_label=Output(ids.MASK_BUTTON, "children"),
        predictions=Output(ids.PREDICTIONS, "children"),
    ),
    inputs=dict(data=Input(ids.STATE, "data")),
)
def render_side(data):
    out = {
        "thumbs": components.placeholder(),
        "layer_max": no_update,
        "layer_marks": no_update,
        "messages": None,
        "panel": None,
        "mask_disabled": True,
        "mask_label": "Mask selected token",
        "predictions": None,
    }
    try:
        view_state, view = _view(data, words=ViewState.from_dict(data).token is not None)
    except UserError as err:
        return {**out, "messages": dbc.Alert(str(err), color="danger")}
    if view is None:
        return {**out, "messages": dbc.Alert("Type a sentence, or pick an example.", color="info")}
    disabled, label = components.mask_button(view, view_state)
    return {
        "thumbs": components.thumbnails(view, view_state),
        "layer_max": view.layers - 1,
        "layer_marks": {i: str(i) for i in range(view.layers)} if view.layers <= 12 else None,
        "messages": components.truncation_notice(view),
        "panel": components.token_panel(view, view_state.token),
        "mask_disabled": disabled,
        "mask_label": label,
        "predictions": components.predictions_table(view),
    }


@registry(Output(search_panel.QUERY, "data"), Input(ids.STATE, "data"))
def share_selection(data):
    """What the search panel searches: the selected token of this view."""
    s = ViewState.from_dict(data)
    heads = None if s.heads is None else list(s.heads)
    return {
        "model": s.model,
        "sentence": s.sentence,
        "token": s.token,
        "layer": s.layer,
        "heads": heads,
    }


@registry(
    Output(ids.HEADS, "data", allow_duplicate=True),
    Input(ids.THUMBS, "clickData"),
    Input(ids.ALL_HEADS, "n_clicks"),
    Input(ids.NO_HEADS, "n_clicks"),
    State(ids.STATE, "data"),
    prevent_initial_call=True,
)
def toggle_heads(click, _all, _none, data):
    if ctx.triggered_id == ids.ALL_HEADS:
        return None
    if ctx.triggered_id == ids.NO_HEADS:
        return []
    try:
        view_state, view = _view(data, words=False)
    except UserError:
        return no_update
    head = None if view is None else components.hovered_head(click, view)
    if head is None:
        return no_update
    return state.toggle_head(view_state.heads, head, view.heads)


@registry(
    Output(ids.TOKEN, "data", allow_duplicate=True),
    Input(ids.GRAPH, "clickData"),
    State(ids.STATE, "data"),
    prevent_initial_call=True,
)
def select_token(click, data):
    token = components.hovered_token(click)
    if token is None:
        return no_update
    return state.select_token(ViewState.from_dict(data), token)


@registry(
    Output(ids.MASKS, "data", allow_duplicate=True),
    Input(ids.MASK_BUTTON, "n_clicks"),
    State(ids.STATE, "data"),
    prevent_initial_call=True,
)
def toggle_mask(_n, data):
    masks = state.toggle_mask(ViewState.from_dict(data))
    return no_update if masks is None else masks
