"""The Attention page's callbacks: each parses its inputs, asks the explorer for the view
(cached: moving a slider never reruns the model), and hands it to components.py."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import ALL, ClientsideFunction, Input, Output, State, ctx, no_update, set_props

from dashapp import urlstate
from dashapp.callbacks import Callbacks, explorer
from dashapp.components import search_panel
from dashapp.pages.attention import components, ids, state
from dashapp.pages.attention.layout import layer_marks
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
    ablate=Input(ids.ABLATE, "value"),
)


# Set by `sync` with set_props rather than declared as its outputs: Dash holds back every
# callback whose input is an output of a callback still running, and the renders read
# these. Declared, a layer change would wait for the URL's round trip before drawing.
SET_BY_SYNC = {
    "input": (ids.INPUT, "data"),
    "model": (ids.MODEL, "value"),
    "layer": (ids.LAYER, "value"),
    "heads": (ids.HEADS, "data"),
    "hide": (ids.HIDE, "value"),
    "ablate": (ids.ABLATE, "value"),
    "mode": (ids.MODE, "value"),
    "threshold": (ids.THRESHOLD, "value"),
}


@registry(
    output=dict(
        url=Output(ids.URL, "search"),
        state=Output(ids.STATE, "data"),
        sentence=Output(ids.SENTENCE, "value"),
        masks=Output(ids.MASKS, "data"),
        token=Output(ids.TOKEN, "data"),
    ),
    inputs=dict(
        search=Input(ids.URL, "search"),
        submit=Input(ids.SENTENCE, "n_submit"),
        run=Input(ids.RUN, "n_clicks"),
        examples=Input({"type": ids.EXAMPLE, "index": ALL}, "n_clicks"),
        opened=Input(search_panel.OPEN, "data"),
        controls=CONTROLS,
    ),
    state=dict(
        typed=State(ids.SENTENCE, "value"),
        previous=State(ids.STATE, "data"),
        previous_input=State(ids.INPUT, "data"),
    ),
    prevent_initial_call=True,  # the page is built as its URL asks (app.route)
)
def sync(search, submit, run, examples, opened, controls, typed, previous, previous_input):
    """The one place view state changes: from the URL (back, forward) or from a control.
    The renders listen to the display controls themselves and to INPUT, which changes only
    when the sentence, model, masks or token do."""
    trigger = ctx.triggered_id
    if trigger == search_panel.OPEN:
        trigger = state.OPEN
    out = state.sync(trigger, search, controls, typed, previous, opened)
    new = out["state"]
    if new is not no_update and state.input_of(new) != previous_input:
        out["input"] = state.input_of(new)
    for key, (component, prop) in SET_BY_SYNC.items():
        if out.get(key, no_update) is not no_update:
            set_props(component, {prop: out.pop(key)})
        out.pop(key, None)
    return out


DISPLAY = dict(
    layer=Input(ids.LAYER, "value"),
    heads=Input(ids.HEADS, "data"),
    hide=Input(ids.HIDE, "value"),
    mode=Input(ids.MODE, "value"),
    threshold=Input(ids.THRESHOLD, "value"),
)


def _view(view_state: ViewState, words: bool):
    """The view of a state's input (None when there is nothing to show)."""
    if not view_state.sentence:
        return None
    return explorer().attention(
        view_state.model, view_state.sentence, view_state.masks, words=words
    )


@registry(
    output=dict(figure=Output(ids.GRAPH, "figure"), note=Output(ids.COMBINE_NOTE, "children")),
    inputs=dict(
        data=Input(ids.INPUT, "data"),
        display=DISPLAY,
        graph_hover=Input(ids.GRAPH, "hoverData"),
        thumb_hover=Input(ids.THUMBS, "hoverData"),
    ),
)
def render_graph(data, display, graph_hover, thumb_hover):
    view_state = state.view_state(data, **display)
    try:
        # the graph comes first; spaCy reads the sentence meanwhile, and the next
        # render (hovering a token re-renders) carries its annotations
        view = _view(view_state, words=False)
    except UserError:
        view = None
    if view is None:
        return {"figure": components.placeholder(), "note": ""}
    if not view.annotated:
        explorer().views.annotate_later(view.sentence)
    # the hover events hold the current hover state (both clear on unhover)
    preview = components.hovered_head(thumb_hover, view)
    figure, note = components.graph(
        view, view_state, preview, components.hovered_token(graph_hover)
    )
    return {"figure": figure, "note": note}


@registry(
    Output(ids.THUMBS, "figure"),
    Input(ids.INPUT, "data"),
    Input(ids.LAYER, "value"),
    State(ids.HEADS, "data"),  # a change of heads only moves the veils: veilHeads, below
)
def render_thumbnails(data, layer, heads):
    view_state = state.view_state(data, layer, heads, False, None, None)
    try:
        view = _view(view_state, words=False)
    except UserError:
        view = None
    return components.placeholder() if view is None else components.thumbnails(view, view_state)


@registry(
    output=dict(
        layer_max=Output(ids.LAYER, "max"),
        layer_marks=Output(ids.LAYER, "marks"),
        messages=Output(ids.MESSAGES, "children"),
        panel=Output(ids.TOKEN_PANEL, "children"),
        mask_disabled=Output(ids.MASK_BUTTON, "disabled"),
        mask_label=Output(ids.MASK_BUTTON, "children"),
    ),
    inputs=dict(data=Input(ids.INPUT, "data")),
)
def render_sentence(data):
    """What depends on the input alone: messages, the token panel, masking."""
    out = {
        "layer_max": no_update,
        "layer_marks": no_update,
        "messages": None,
        "panel": None,
        "mask_disabled": True,
        "mask_label": "Mask selected token",
    }
    view_state = state.view_state(data, 0, None, False, None, None)
    try:
        view = _view(view_state, words=view_state.token is not None)  # the panel shows its word
    except UserError as err:
        return {**out, "messages": dbc.Alert(str(err), color="danger")}
    if view is None:
        return {**out, "messages": dbc.Alert("Type a sentence, or pick an example.", color="info")}
    disabled, label = components.mask_button(view, view_state)
    return {
        "layer_max": view.layers - 1,
        "layer_marks": layer_marks(view.layers),
        "messages": components.truncation_notice(view),
        "panel": components.token_panel(view, view_state.token),
        "mask_disabled": disabled,
        "mask_label": label,
    }


# the heads switched off follow the layer and head selection only while the switch is on,
# in the browser: with it off, a layer change or head toggle asks the server nothing
registry.clientside(
    """function (layer, heads, ablate) {
        if (!ablate) { return window.dash_clientside.no_update; }
        return [layer, heads];
    }""",
    Output(ids.ABLATED, "data"),
    Input(ids.LAYER, "value"),
    Input(ids.HEADS, "data"),
    Input(ids.ABLATE, "value"),
)


@registry(
    Output(ids.PREDICTIONS, "children"),
    Input(ids.INPUT, "data"),
    Input(ids.ABLATE, "value"),
    Input(ids.ABLATED, "data"),
    State(ids.LAYER, "value"),
    State(ids.HEADS, "data"),
)
def render_predictions(data, ablate, ablated, layer, heads):
    if ablate and ablated:
        layer, heads = ablated
    return predictions(data, ablate, layer, heads)


def predictions(data, ablate, layer, heads):
    """The model's top predictions; with the switch on, beside them the predictions with the
    layer's selected heads switched off (the model rerun without them)."""
    view_state = state.view_state(data, layer, heads, False, None, None)
    try:
        view = _view(view_state, words=False)
        if view is None:
            return None
        view_state = urlstate.clamp(view_state, view.layers, view.heads, len(view.tokens))
        off = None
        if ablate and view.has_predictions:
            off = list(range(view.heads)) if view_state.heads is None else list(view_state.heads)
            after = explorer().views.ablated(
                view.model, view.sentence, view.masks, {view_state.layer: off}
            )
            return components.predictions_table(view, after, view_state.layer, off)
        return components.predictions_table(view)
    except UserError as err:
        return dbc.Alert(str(err), color="danger")


# What the search panel searches, the selected token of this view: a copy of fields,
# done in the browser (assets/exbert.js, shareSelection) instead of a round trip.
registry.clientside(
    ClientsideFunction(namespace="exbert", function_name="shareSelection"),
    Output(search_panel.QUERY, "data"),
    Output(search_panel.SELECTION, "data"),
    Input(ids.INPUT, "data"),
    Input(ids.LAYER, "value"),
    Input(ids.HEADS, "data"),
    State(search_panel.SELECTION, "data"),
)


registry.clientside(
    ClientsideFunction(namespace="exbert", function_name="veilHeads"),
    Output(ids.THUMBS, "figure", allow_duplicate=True),
    Input(ids.HEADS, "data"),
    State(ids.THUMBS, "figure"),
    prevent_initial_call=True,
)


registry.clientside(
    ClientsideFunction(namespace="exbert", function_name="toggleHead"),
    Output(ids.HEADS, "data", allow_duplicate=True),
    Input(ids.THUMBS, "clickData"),
    Input(ids.ALL_HEADS, "n_clicks"),
    Input(ids.NO_HEADS, "n_clicks"),
    State(ids.HEADS, "data"),
    State(ids.THUMBS, "figure"),
    prevent_initial_call=True,
)


@registry(
    Output(ids.TOKEN, "data", allow_duplicate=True),
    Input(ids.GRAPH, "clickData"),
    State(ids.INPUT, "data"),
    prevent_initial_call=True,
)
def select_token(click, data):
    token = components.hovered_token(click)
    if token is None:
        return no_update
    return state.select_token(state.view_state(data, 0, None, False, None, None), token)


@registry(
    Output(ids.MASKS, "data", allow_duplicate=True),
    Input(ids.MASK_BUTTON, "n_clicks"),
    State(ids.INPUT, "data"),
    prevent_initial_call=True,
)
def toggle_mask(_n, data):
    masks = state.toggle_mask(state.view_state(data, 0, None, False, None, None))
    return no_update if masks is None else masks
