"""How the Attention page's view state changes: from the URL (open, back, forward) or
from a control. Pure: the `sync` callback passes its inputs here and returns the result,
so a unit test checks every transition without a browser."""

from __future__ import annotations

from dataclasses import replace

from dash import no_update

from dashapp import urlstate
from dashapp.pages.attention import ids
from dashapp.urlstate import ViewState

EXAMPLES = [
    "The cat sat on the mat because it was tired.",
    "The doctor asked the nurse a question. She said that she didn't know.",
    "Paris is the capital of France, and Berlin is the capital of Germany.",
    "The keys to the cabinet are on the table.",
]
OPEN = "open"  # the trigger name for a sentence opened from elsewhere (a search result)
OUTPUTS = (
    "url", "state", "sentence", "model", "layer", "heads", "masks", "token", "hide", "mode",
    "threshold", "ablate",
)  # fmt: skip


def initial(search: str | None, default_model: str) -> ViewState:
    """The view a URL asks for when the page opens (an example when it names no sentence)."""
    return ViewState.from_dict(sync(None, search, {"model": default_model}, None, None)["state"])


def control_values(state: ViewState) -> dict:
    """What each control shows for a state."""
    return {
        "model": state.model,
        "layer": state.layer,
        "heads": None if state.heads is None else list(state.heads),
        "masks": list(state.masks),
        "token": state.token,
        "hide": state.hide_special,
        "ablate": state.ablate,
        "mode": state.mode,
        "threshold": state.threshold,
    }


def _from_controls(sentence: object, controls: dict, old: ViewState) -> ViewState:
    """The state the controls show; values from the browser are parsed forgivingly."""
    threshold = controls.get("threshold")
    return ViewState.from_dict(
        {
            "sentence": sentence.strip() if isinstance(sentence, str) else "",
            "model": controls.get("model"),
            "layer": controls.get("layer"),
            "heads": controls.get("heads"),
            "masks": controls.get("masks"),
            "token": controls.get("token"),
            "hide_special": bool(controls.get("hide")),
            "ablate": bool(controls.get("ablate")),
            "mode": controls.get("mode"),
            "threshold": urlstate.DEFAULT_THRESHOLD if threshold is None else threshold,
            "extra": old.extra,
        }
    )


def sync(
    trigger: str | dict | None,
    search: str | None,
    controls: dict,
    typed: str | None,
    previous: dict | None,
    opened: str | None = None,
) -> dict:
    """The outputs of the page's `sync` callback (`no_update` where nothing changes).

    `trigger` is the id that fired (None on the first call), `controls` the
    controls' values by output name, `typed` the text in the sentence box (it
    counts once Enter or Run says so), `opened` a sentence a search result asks
    to show.
    """
    out = dict.fromkeys(OUTPUTS, no_update)
    controls = controls if isinstance(controls, dict) else {}
    if trigger is None or trigger == ids.URL:
        search = search if isinstance(search, str) else None
        state = urlstate.parse(search)
        if not urlstate.names_sentence(search):  # a page that starts with something to see
            state = replace(state, sentence=EXAMPLES[0])
        if not state.model:
            model = controls.get("model")
            state = replace(state, model=model if isinstance(model, str) else "")
        out.update(state=state.to_dict(), sentence=state.sentence, **control_values(state))
        return out
    if trigger == ids.MODEL and not controls.get("model"):
        return out  # the dropdown cleared itself for a model it does not list
    old = ViewState.from_dict(previous)
    sentence = old.sentence
    if trigger in (ids.SENTENCE, ids.RUN):
        sentence = typed
    elif isinstance(trigger, dict) and trigger.get("type") == ids.EXAMPLE:
        index = trigger.get("index")
        if not isinstance(index, int) or not 0 <= index < len(EXAMPLES):
            return out
        sentence = EXAMPLES[index]
    elif trigger == OPEN:
        if not opened or not isinstance(opened, str):
            return out
        sentence = opened
    state = _from_controls(sentence, controls, old)
    new_input = state.sentence != old.sentence or state.model != old.model
    if new_input:  # token positions belong to the old tokenisation
        state = replace(state, masks=(), token=None)
    if state == old:
        return out
    out.update(url=urlstate.encode(state), state=state.to_dict())
    if isinstance(trigger, dict) or trigger == OPEN:
        out["sentence"] = state.sentence
    if new_input:
        out.update(masks=[], token=None)
    return out


INPUT_FIELDS = ("sentence", "model", "masks", "token")


def input_of(state: dict) -> dict:
    """The part of a view state that needs the model or spaCy: a change of layer, heads
    or threshold leaves it alone, so the panels that depend on it only are not redrawn."""
    return {key: state.get(key) for key in INPUT_FIELDS}


def view_state(input_data: object, layer, heads, hide, mode, threshold) -> ViewState:
    """The state a render draws: the input and the display controls as they are now (read
    directly, not through the URL sync, which would cost a round trip)."""
    data = input_data if isinstance(input_data, dict) else {}
    return ViewState.from_dict(
        {
            **data,
            "layer": layer,
            "heads": heads,
            "hide_special": bool(hide),
            "mode": mode,
            "threshold": urlstate.DEFAULT_THRESHOLD if threshold is None else threshold,
        }
    )


def toggle_mask(state: ViewState) -> list[int] | None:
    """The masks after pressing the mask button (None: nothing to do)."""
    if state.token is None:
        return None
    return sorted(set(state.masks) ^ {state.token})


def select_token(state: ViewState, clicked: int) -> int | None:
    """Clicking the selected token again unselects it."""
    return None if state.token == clicked else clicked
