"""The pages' logic without a browser: view-state transitions, what a view draws, and the
model allow-list on every callback that reads a model from the URL."""

import shutil

import pytest
from dash import no_update

from dashapp import urlstate
from dashapp.components import search_panel
from dashapp.pages.attention import callbacks, components, ids, state
from dashapp.urlstate import ViewState

CONTROLS = {
    "model": "m",
    "layer": 1,
    "heads": None,
    "masks": [2],
    "token": 2,
    "hide": False,
    "mode": "graph",
    "threshold": 0.7,
}


def _state(**kw) -> dict:
    return ViewState(**{"sentence": "The cat sat.", "model": "m", "layer": 1, "token": 2,
                        "masks": (2,), **kw}).to_dict()  # fmt: skip


def test_opening_a_url_sets_every_control():
    out = state.sync(None, "?sentence=A+b.&layer=3&heads=1,2&token=1", {"model": "m"}, None, None)
    assert out["url"] is no_update  # the URL is where the state came from
    assert out["state"]["sentence"] == "A b." and out["state"]["model"] == "m"
    assert (out["layer"], out["heads"], out["token"], out["sentence"]) == (3, [1, 2], 1, "A b.")


def test_typed_text_counts_on_enter_and_a_new_sentence_drops_token_and_masks():
    previous = _state()
    typing = state.sync(ids.LAYER, None, {**CONTROLS, "layer": 2}, "Half typed", previous)
    assert typing["state"]["sentence"] == "The cat sat."  # typing alone changes nothing
    assert "layer=2" in typing["url"] and typing["masks"] is no_update
    entered = state.sync(ids.SENTENCE, None, CONTROLS, "A new one.", previous)
    assert entered["state"]["sentence"] == "A new one." and "sentence=A+new+one." in entered["url"]
    assert entered["masks"] == [] and entered["token"] is None
    assert entered["state"]["masks"] == [] and entered["state"]["token"] is None


def test_examples_and_opened_results_fill_the_sentence_box():
    previous = _state()
    example = state.sync({"type": ids.EXAMPLE, "index": 1}, None, CONTROLS, "", previous)
    assert example["sentence"] == state.EXAMPLES[1] == example["state"]["sentence"]
    opened = state.sync(state.OPEN, None, CONTROLS, "", previous, "A corpus sentence.")
    assert opened["sentence"] == "A corpus sentence." and opened["token"] is None
    assert state.sync(state.OPEN, None, CONTROLS, "", previous, None)["state"] is no_update


def test_nothing_changes_when_nothing_changed():
    previous = _state()
    same = state.sync(ids.LAYER, None, CONTROLS, "", previous)
    assert all(v is no_update for v in same.values())
    cleared = state.sync(ids.MODEL, None, {**CONTROLS, "model": None}, "", previous)
    assert all(v is no_update for v in cleared.values())
    other_model = state.sync(ids.MODEL, None, {**CONTROLS, "model": "n"}, "", previous)
    assert other_model["state"]["model"] == "n" and other_model["masks"] == []


def test_mask_and_token_toggles():
    assert state.toggle_mask(ViewState(token=2, masks=(2, 5))) == [5]
    assert state.toggle_mask(ViewState(token=3, masks=(5,))) == [3, 5]
    assert state.toggle_mask(ViewState(token=None)) is None
    assert state.select_token(ViewState(token=2), 2) is None
    assert state.select_token(ViewState(token=2), 4) == 4


def test_the_renders_input_changes_only_with_what_the_model_reads():
    previous = _state()
    assert state.input_of(previous) == {
        "sentence": "The cat sat.",
        "model": "m",
        "masks": [2],
        "token": 2,
    }
    layer = state.sync(ids.LAYER, None, {**CONTROLS, "layer": 3}, "", previous)
    assert state.input_of(layer["state"]) == state.input_of(previous)
    token = state.sync(ids.TOKEN, None, {**CONTROLS, "token": 1}, "", previous)
    assert state.input_of(token["state"])["token"] == 1
    drawn = state.view_state(state.input_of(previous), 4, [1, 2], True, "heatmap", 0.5)
    assert (drawn.layer, drawn.heads, drawn.hide_special, drawn.mode, drawn.threshold) == (
        4, (1, 2), True, "heatmap", 0.5,
    )  # fmt: skip
    assert (drawn.sentence, drawn.token, drawn.masks) == ("The cat sat.", 2, (2,))


def test_what_a_view_draws(explorer, app_env):
    view = explorer.attention(app_env["model"], "The cat sat on the mat.", masks=[2])
    s = ViewState.from_dict(_state(heads=(0, 3)))
    fig, note = components.graph(view, s, None, None)
    assert note == "Layer 1, mean of 2 selected heads" and fig["data"]
    _, note = components.graph(view, s, 3, None)
    assert note == "Layer 1, previewing head 3 alone"
    assert components.mask_button(view, s) == (False, "Unmask token")
    assert components.mask_button(view, ViewState.from_dict(_state(token=0)))[0]  # [CLS]
    hover = components.hover_text(view, 2)
    assert "masked with [MASK]" in hover and "POS: NOUN" in hover and "would predict here" in hover
    labels = [a["text"] for a in components.thumbnails(view, s)["layout"]["annotations"]]
    assert labels == ["head 0", "head 1", "head 2", "head 3"]  # the tiny model has 4


def test_a_model_nobody_offered_is_never_loaded_from_a_url(app, tiny_models, tmp_path):
    """/?sentence=hello%20world&token=1&model=/some/folder: every callback that reads the
    model from the state refuses it before loading anything, even a loadable folder."""
    from exbert.model import _load

    folder = tmp_path / "a-real-model"
    shutil.copytree(tiny_models["bert-encoder"], folder)
    data = state.input_of(ViewState(sentence="hello world", model=str(folder), token=1).to_dict())
    display = {"layer": 0, "heads": None, "hide": False, "mode": "graph", "threshold": 0.7}
    attempts = _load.cache_info().misses
    with app.server.app_context():
        graph = callbacks.render_graph(data, display, None, None)
        thumbs = callbacks.render_thumbnails(data, 0, None)
        side = callbacks.render_sentence(data)
        disabled, label = search_panel.button_state(data)
    assert graph["note"] == "" and not graph["figure"].data and not thumbs.data
    assert "Unknown model" in str(side["messages"])
    assert disabled and label == "Search"
    assert _load.cache_info().misses == attempts, "a load of the folder was attempted"


@pytest.mark.parametrize("form", [{}, {"k": "7", "own": True, "pos": ["NOUN"]}])
def test_the_search_panel_asks_what_the_api_takes(form):
    query = {"model": "m", "sentence": "s", "token": 2, "layer": 1, "heads": [0]}
    request = search_panel.request_of(query, {"corpus": "wiki", **form})
    assert request["token_index"] == 2 and request["heads"] == [0] and request["k"] == 50
    assert request["exclude_own_sentence"] is not form.get("own", False)
    assert request["filters"]["pos"] == form.get("pos", [])


def test_callbacks_take_any_value_a_client_sends(app):
    """Dash hands callbacks whatever the browser (or anyone) posts: none of them may fail
    on a value of the wrong type or range; they show a message or nothing instead."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    json_values = st.recursive(
        st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False)
        | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=8,
    )  # fmt: skip
    fields = ["sentence", "model", "layer", "heads", "masks", "token", "hide_special", "mode"]
    states = json_values | st.fixed_dictionaries(
        {"sentence": st.sampled_from(["The cat sat.", "", None, 7])},
        optional={f: json_values for f in fields[1:]},
    )
    triggers = st.sampled_from([None, ids.URL, ids.SENTENCE, ids.RUN, ids.MODEL, ids.LAYER,
                                state.OPEN, {"type": ids.EXAMPLE, "index": 99}]) | json_values  # fmt: skip

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        data=states, event=json_values, trigger=triggers, controls=json_values, extra=json_values
    )
    def check(data, event, trigger, controls, extra):
        state.sync(trigger, extra, controls, extra, data, extra)
        display = dict(zip(["layer", "heads", "hide", "mode", "threshold"],
                           [extra, controls, trigger, event, extra], strict=True))  # fmt: skip
        with app.server.app_context():
            callbacks.render_graph(data, display, event, event)
            callbacks.render_thumbnails(data, extra, controls)
            callbacks.render_sentence(data)
            search_panel.button_state(data)
            search_panel.button_state(extra)
            callbacks.select_token(event, data)
            callbacks.toggle_mask(1, data)

    check()


def test_switching_heads_off_shows_predictions_before_and_after(app, app_env):
    """The switch reruns the model without the layer's selected heads; the table shows both,
    and marks the tokens whose first prediction changed."""
    from exbert.model import load_model

    data = state.input_of(
        ViewState(sentence="The cat sat on the mat.", model=app_env["model"]).to_dict()
    )
    with app.server.app_context():
        plain = callbacks.predictions(data, False, 1, [0, 2])
        table = callbacks.predictions(data, True, 1, [0, 2])
    assert len(plain.children[0].children.children) == 2  # token, top 5
    header = [th.children for th in table.children[0].children.children]
    assert header[2] == "with layer 1's heads 0, 2 switched off"
    runner = load_model(app_env["model"])
    expected = runner.analyze("The cat sat on the mat.", ablate={1: [0, 2]}).predictions
    cells = [row.children[2].children for row in table.children[1].children]
    assert cells[2] == ", ".join(f"{tok!r} {p:.1%}" for tok, p in expected[2])
    assert ViewState.from_dict(urlstate.parse("?ablate=1").to_dict()).ablate
