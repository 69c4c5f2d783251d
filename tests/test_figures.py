"""Pure figure builders and URL state, without a browser."""

import numpy as np
import pytest

from dashapp import urlstate
from dashapp.figures import attention as figures
from dashapp.urlstate import ViewState


def _line_traces(fig):
    return [t for t in fig["data"] if t["mode"] == "lines"]


def test_line_opacity_and_width_follow_the_weight():
    matrix = np.array([[0.05, 0.15, 0.8], [0.5, 0.25, 0.25], [0.34, 0.33, 0.33]])
    fig = figures.attention_graph(["a", "b", "c"], matrix, matrix > 0)
    lines = _line_traces(fig)
    # each trace holds the lines of one weight bucket; a heavier bucket is more opaque and wider
    by_opacity = sorted(lines, key=lambda t: t["opacity"])
    assert [t["line"]["width"] for t in by_opacity] == sorted(t["line"]["width"] for t in lines)
    heaviest = by_opacity[-1]
    assert heaviest["x"][:2] == [0.0, 1.0] and heaviest["y"][:2] == [0.0, -2.0]  # a -> c, 0.8
    lightest = by_opacity[0]
    assert lightest["y"][:2] == [0.0, 0.0]  # a -> a, 0.05
    assert sum(len(t["x"]) // 3 for t in lines) == 9
    assert figures.line_style(0.9) > figures.line_style(0.1)


def test_focus_shows_only_that_tokens_lines():
    matrix = np.full((3, 3), 1 / 3)
    fig = figures.attention_graph(["a", "b", "c"], matrix, matrix > 0, focus=1)
    ys = [y for t in _line_traces(fig) for y in t["y"][0::3]]
    assert ys == [-1.0] * 3


def test_hidden_special_tokens_renormalise():
    matrix = np.array([[0.5, 0.25, 0.25], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    sub, keep = figures.drop_special(matrix, [True, False, False])
    assert keep == [1, 2]
    np.testing.assert_allclose(sub.sum(axis=1), 1.0)
    np.testing.assert_allclose(sub[0], [0.75, 0.25])
    np.testing.assert_allclose(sub[1], [0.25, 0.75])


def test_threshold_keeps_the_strongest_lines_up_to_the_share():
    row = np.array([[0.5, 0.3, 0.15, 0.05]])
    assert figures.keep_mask(row, 0.5).tolist() == [[True, False, False, False]]
    assert figures.keep_mask(row, 0.7).tolist() == [[True, True, False, False]]
    assert figures.keep_mask(row, 0.81).tolist() == [[True, True, True, False]]
    assert figures.keep_mask(row, 1.0).tolist() == [[True, True, True, True]]
    assert not figures.keep_mask(np.zeros((1, 4)), 0.7).any()


def test_combine_heads_is_the_mean_of_the_selected_heads():
    att = np.stack([np.eye(3), np.full((3, 3), 1 / 3), np.zeros((3, 3))])
    np.testing.assert_allclose(figures.combine_heads(att, [0, 1]), (np.eye(3) + 1 / 3) / 2)
    assert not figures.combine_heads(att, []).any()


def test_attention_figure_maps_token_indices_and_greys_the_future():
    att = np.random.default_rng(0).dirichlet(np.ones(4), size=(2, 4))  # [heads, q, k]
    special = [True, False, False, True]
    fig = figures.attention_figure(
        att,
        [0, 1],
        ["<s>", "a", "b", "</s>"],
        special,
        ["h"] * 4,
        hide_special=True,
        causal=True,
        focus=1,
    )
    left, right = fig["data"][-2:]
    assert list(left["customdata"]) == [1, 2]
    assert list(left["text"]) == ["a", "b"]
    assert (
        right["textfont"]["color"][1] == figures.GREY
        and right["textfont"]["color"][0] != figures.GREY
    )
    heat = figures.attention_figure(
        att, [0], ["<s>", "a", "b", "</s>"], special, ["h"] * 4, mode="heatmap"
    )
    np.testing.assert_allclose(np.array(heat.data[0].z), att[0])


def test_head_thumbnails_grid_veils_unselected_heads_and_maps_clicks_back():
    att = np.random.default_rng(1).random((5, 3, 3))
    fig = figures.head_thumbnails(att, [1, 3], columns=3)
    z = np.array(fig["data"][0]["z"], dtype=float)
    # 2 rows x 3 columns of 3x3; a blank column between thumbnails, 2 blank label rows above each
    assert z.shape == (10, 11)
    np.testing.assert_allclose(z[7:10, 0:3], att[3], atol=5e-3)  # head 3: second row, first column
    assert np.isnan(z[5:7]).all() and np.isnan(z[:, 3]).all()  # the gaps
    veils = fig["layout"]["shapes"]
    assert len(veils) == 5  # one per head, shown for the unselected ones
    veiled = {(s["x0"], s["y0"]) for s in veils if s["visible"]}
    assert veiled == {(-0.5, 1.5), (7.5, 1.5), (3.5, 6.5)}  # heads 0, 2, 4
    labels = {a["text"]: a["y"] for a in fig["layout"]["annotations"]}
    assert labels["head 3"] < 6.5 and labels["head 3"] > 4.5  # in the blank rows above head 3
    assert figures.head_at(5, 3, tokens=3, heads=5, columns=3) == 1
    assert figures.head_at(1, 8, tokens=3, heads=5, columns=3) == 3
    assert figures.head_at(9, 8, tokens=3, heads=5, columns=3) is None  # no head 5
    assert figures.head_at(3, 3, tokens=3, heads=5, columns=3) is None  # a gap
    assert figures.head_at(1, 0, tokens=3, heads=5, columns=3) is None  # a label row


def test_offset_histogram_has_a_fixed_readable_axis():
    from dashapp.figures.charts import offset_bins, summary_figure

    labels, counts = offset_bins({"-40": 2, "-10": 1, "-1": 5, "0": 1, "3": 2, "11": 4})
    assert len(labels) == 23 and labels[0] == "≤-11" and labels[-1] == "≥+11"
    assert dict(zip(labels, counts, strict=True)) | {} == {
        **dict.fromkeys(labels, 0), "≤-11": 2, "-10": 1, "-1": 5, "0": 1, "+3": 2, "≥+11": 4,
    }  # fmt: skip
    summary = {
        "match": {"pos": {"NOUN": 3}, "dep": {"nsubj": 3}, "ent_type": {"(none)": 3}},
        "max_attention": {"pos": {"DET": 2}, "dep": {"det": 2}, "ent_type": {"(none)": 2}},
        "offset": {"-1": 2},
        "match_is_next_token": True,
    }
    fig = summary_figure(summary)
    assert len(fig["data"]) == 7  # one figure, seven panels
    titles = [a["text"] for a in fig["layout"]["annotations"]]
    assert titles[0].startswith("token after each match") and "offset" in titles[-1]


def test_display_labels():
    assert figures.display_label("Ġcat") == "cat"
    assert figures.display_label("▁cat") == "cat"
    assert figures.display_label("##ing") == "##ing"
    assert figures.display_label("cat", masked=True, mask_token="[MASK]") == "[MASK]"


def test_url_state_round_trips_and_forgives():
    state = ViewState(
        sentence="The cat & the 'hat'?",
        model="m/x",
        layer=3,
        heads=(1, 4),
        masks=(2,),
        token=5,
        hide_special=True,
        mode="heatmap",
        threshold=0.5,
    )
    assert urlstate.parse(urlstate.encode(state)) == state
    assert urlstate.parse("?layer=abc&heads=x,2&threshold=9&mode=evil&token=") == ViewState(
        layer=0, heads=(2,), threshold=1.0
    )
    assert urlstate.parse(None) == ViewState()
    clamped = urlstate.clamp(
        ViewState(layer=9, heads=(0, 20), token=7, masks=(1, 50)), layers=6, heads=12, tokens=8
    )
    assert (clamped.layer, clamped.heads, clamped.token, clamped.masks) == (0, (0,), 7, (1,))


@pytest.mark.parametrize(
    "search", ["?sentence=%00%ff", "?" + "a=" * 2000, "?heads=" + ",".join(["9"] * 500)]
)
def test_url_parse_never_raises(search):
    state = urlstate.parse(search)
    assert isinstance(state, ViewState) and urlstate.parse(urlstate.encode(state)) == state


def test_long_inputs_are_pooled_in_the_thumbnails_and_clicks_still_find_their_head():
    att = np.zeros((5, 40, 40))
    att[2, np.arange(40), np.arange(40)] = 1.0  # head 2 looks at itself
    att[3, :, 0] = 1.0  # head 3 looks at the first token
    pooled = figures.pool(att, 16)
    assert pooled.shape == (5, 16, 16)
    assert (
        (np.diag(pooled[2]) == 1).all()
        and (pooled[3][:, 0] == 1).all()
        and pooled[3][:, 1:].max() == 0
    )
    fig = figures.head_thumbnails(att, [0, 1, 2, 3, 4])
    z = np.array(fig["data"][0]["z"], dtype=float)
    dx, dy = figures.thumbnail_pitch(16)
    assert z.shape == (2 * dy, 4 * dx - (dx - 16))
    # a click in the middle of head 2's thumbnail (third column, first row) finds head 2
    assert figures.head_at(2 * dx + 8, (dy - 16) + 8, tokens=40, heads=5) == 2


def test_url_state_each_field_its_default_and_its_bounds():
    """What a shared link carries, field by field: defaults left out of the URL, bounds
    and hostile values falling back to something drawable, other pages' keys kept."""
    assert urlstate.encode(ViewState()) == "?layer=0"
    url = urlstate.encode(
        ViewState(sentence="a b", model="m", layer=2, heads=(), masks=(1, 3), token=0,
                  ablate=True, threshold=0.25, extra={"page": "x"})
    )  # fmt: skip
    assert url == (
        "?sentence=a+b&model=m&layer=2&heads=&masks=1%2C3&token=0&ablate=1&threshold=0.25&page=x"
    )
    state = urlstate.parse(url)
    assert state.heads == () and state.token == 0 and state.ablate and not state.hide_special
    assert state.extra == {"page": "x"} and state.threshold == 0.25
    assert urlstate.parse("?heads=all").heads is None
    assert urlstate.parse("?heads=3,-1,3, 5").heads == (3, -1, 5)
    assert urlstate.parse("?layer=-2&token=4,9").layer == -2
    assert urlstate.parse("?token=4,9").token == 4
    assert urlstate.parse("?threshold=-3").threshold == 0.0
    assert urlstate.parse("?threshold=0.7000000001").threshold == pytest.approx(0.7)
    for on in ("1", "true", "on"):
        assert urlstate.parse(f"?hide_special={on}&ablate={on}").hide_special
        assert urlstate.parse(f"?ablate={on}").ablate
    assert not urlstate.parse("?hide_special=yes&ablate=0").hide_special
    assert urlstate.parse("?mode=heatmap&mode=graph").mode == "graph"  # the last one counts
    assert urlstate.names_sentence("?sentence=") and not urlstate.names_sentence("?model=m")
    assert not urlstate.names_sentence(None)

    d = ViewState(heads=(1, 2), masks=(3,)).to_dict()
    assert d["heads"] == [1, 2] and d["masks"] == [3] and d["threshold"] == 0.7
    assert ViewState(heads=None).to_dict()["heads"] is None
    assert ViewState.from_dict(d) == ViewState(heads=(1, 2), masks=(3,))
    hostile = ViewState.from_dict(
        {"sentence": 5, "model": ["m"], "layer": True, "heads": [1, "2", 1, 2**40, 3],
         "masks": "1", "token": 2.5, "hide_special": "true", "ablate": 1,
         "mode": "evil", "threshold": float("nan"), "extra": {"a": "b", "c": 1}}
    )  # fmt: skip
    assert hostile == ViewState(heads=(1, 3))
    assert hostile.extra == {"a": "b"}
    assert ViewState.from_dict({"threshold": 5, "layer": 3, "token": -(2**31)}) == ViewState(
        threshold=1.0, layer=3
    )
    assert ViewState.from_dict({"threshold": -1, "extra": "x"}).threshold == 0.0
    assert ViewState.from_dict(["not", "a", "dict"]) == ViewState()
    assert ViewState.from_dict({"hide_special": True, "ablate": True, "mode": "heatmap"}) == (
        ViewState(hide_special=True, ablate=True, mode="heatmap")
    )

    edge = urlstate.clamp(
        ViewState(layer=6, heads=(-1, 0, 11, 12), token=8, masks=(-1, 0, 7, 8)), 6, 12, 8
    )
    assert (edge.layer, edge.heads, edge.token, edge.masks) == (0, (0, 11), None, (0, 7))
    kept = urlstate.clamp(ViewState(layer=5, token=7), 6, 12, 8)
    assert (kept.layer, kept.heads, kept.token) == (5, None, 7)
    assert urlstate.clamp(ViewState(token=-1), 6, 12, 8).token is None


def test_what_the_attention_view_accepts_and_what_it_refuses():
    from exbert.shapes import Token, Word
    from explore.attention import (
        MAX_CHARS,
        AttentionView,
        check_sentence,
        parse_masks,
        selection,
        word_position,
    )
    from explore.errors import UserError

    assert check_sentence(" a ") == " a "
    assert check_sentence("x" * (MAX_CHARS + 5)) == "x" * MAX_CHARS
    for bad, message in (
        (None, "Type a sentence"),
        ("  \n", "Type a sentence"),
        (3, "must be a string"),
        ("a\x00b", "NUL"),
    ):
        with pytest.raises(UserError, match=message):
            check_sentence(bad)
    assert parse_masks(None) == () and parse_masks([3, 1, 3]) == (1, 3)
    for bad in ("1", [1, "2"], [True], [1.0]):
        with pytest.raises(UserError, match="masks"):
            parse_masks(bad)

    cat = Word(0, "Cat", "cat", "NOUN", "NN", "nsubj", 1, "", "O", False, 0, 3)
    sat = Word(1, "sat", "sit", "VERB", "VBD", "ROOT", 1, "", "O", False, 4, 7)
    tokens = [
        Token(0, "[CLS]", True, 0, 0),
        Token(1, "ca", False, 0, 2, cat),
        Token(2, "##t", False, 2, 3, cat),
        Token(3, "sat", False, 4, 7, sat),
    ]
    view = AttentionView("m", "mlm", 2, 4, "Cat sat", tokens, np.zeros((2, 4, 4, 4)),
                         [[("a", 0.5)]] * 4, False, (2,), "[MASK]")  # fmt: skip
    assert word_position(view, "cat") == 1 and word_position(view, "SAT") == 3
    with pytest.raises(UserError, match="token position"):
        word_position(view, "dog")
    assert selection(view, None) == [0, 1, 2, 3]
    assert selection(view, [-1, 0, 3, 4]) == [0, 3]
    assert view.masked(2) and not view.masked(1) and view.can_mask and view.has_predictions
    assert view.token_predictions(1) == [("a", 0.5)]
    assert view.prediction_label == "would predict here"
    causal = AttentionView("m", "causal", 2, 4, "", [], np.zeros(1), None, False, (), None)
    assert causal.token_predictions(0) == [] and not causal.can_mask
    assert causal.prediction_label == "would predict next"
    encoder = AttentionView("m", "encoder", 2, 4, "", [], np.zeros(1), None, False, (), None)
    assert not encoder.has_predictions and "no language-model head" in encoder.prediction_label


def test_the_threshold_keeps_the_strongest_links_holding_that_share_of_a_row():
    rows = np.array(
        [
            [2.0, 1.0, 1.0, 0.0],  # unnormalised: the share is of the row's own total
            [0.0, 0.0, 0.0, 0.0],  # no mass: nothing kept, and the next row still is
            [0.25, 0.25, 0.25, 0.25],  # ties: the earlier tokens first
            [0.0, 0.1, 0.0, 0.9],
        ]
    )
    keep = figures.keep_mask(rows, 0.7)
    assert keep.dtype == bool
    assert keep.tolist() == [
        [True, True, False, False],  # 2 + 1 >= 0.7 * 4
        [False, False, False, False],
        [True, True, True, False],  # 0.75 >= 0.7
        [False, False, False, True],
    ]
    assert figures.keep_mask(rows, 0.0)[3].tolist() == [False, False, False, True]
    for everything in (1.0, 1.5):  # all links with any mass, never the zero ones
        assert (figures.keep_mask(rows, everything) == (rows > 0)).all()


def test_hiding_special_tokens_renormalises_the_rest_and_keeps_empty_rows_empty():
    m = np.array([[0.5, 0.25, 0.25], [0.2, 0.2, 0.6], [1.0, 0.0, 0.0]])
    sub, keep = figures.drop_special(m, [True, False, False])
    assert keep == [1, 2]
    np.testing.assert_allclose(sub, [[0.25, 0.75], [0.0, 0.0]])  # the last row had no mass left
    assert not np.isnan(sub).any()
    none = figures.combine_heads(np.ones((4, 3, 3), dtype=np.float32), [])
    assert none.shape == (3, 3) and none.dtype == np.float32 and not none.any()
    mean = figures.combine_heads(np.arange(12, dtype=np.float32).reshape(3, 2, 2), [0, 2])
    np.testing.assert_allclose(mean, [[4, 5], [6, 7]])


def test_a_click_on_a_thumbnail_finds_its_head_and_the_gaps_find_none():
    tokens, heads, columns = 6, 5, 4
    dx, dy = figures.thumbnail_pitch(tokens)
    top = dy - tokens  # label rows above each thumbnail
    assert figures.head_at(0, top, tokens, heads, columns) == 0  # the first cell of head 0
    assert figures.head_at(tokens - 1, top + tokens - 1, tokens, heads, columns) == 0
    assert figures.head_at(tokens, top, tokens, heads, columns) is None  # the gap beside it
    assert figures.head_at(0, top + tokens, tokens, heads, columns) is None  # the gap below
    assert figures.head_at(0, top - 1, tokens, heads, columns) is None  # its label
    assert figures.head_at(dx * 3, top, tokens, heads, columns) == 3
    assert figures.head_at(dx * 4, top, tokens, heads, columns) is None  # past the last column
    assert figures.head_at(0, dy + top, tokens, heads, columns) == 4  # second row
    assert figures.head_at(dx, dy + top, tokens, heads, columns) is None  # no head 5


@pytest.mark.parametrize("mode", ["graph", "heatmap"])
@pytest.mark.parametrize("focus, selected", [(None, None), (1, 2), (2, 2)])
def test_every_figure_is_a_valid_plotly_spec(mode, focus, selected):
    """The figures are plain dicts for speed; plotly's own validator reads them as the
    browser's plotly.js would: a misspelt property or value is an error here."""
    import plotly.graph_objects as go

    att = np.random.default_rng(5).dirichlet(np.ones(5), size=(3, 5))
    labels, special = ["<s>", "Ġa", "b", "c", "</s>"], [True, False, False, False, True]
    for hide in (False, True):
        fig = figures.attention_figure(
            att, [0, 2], labels, special, ["hover"] * 5, threshold=0.5, hide_special=hide,
            mode=mode, focus=focus, selected=selected, masked=[3], causal=True, title="t",
        )  # fmt: skip
        go.Figure(fig)
    go.Figure(figures.head_thumbnails(att, [1], columns=2))
    go.Figure(figures.head_thumbnails(np.random.default_rng(2).random((4, 40, 40)), [0, 3]))
    graph = figures.attention_graph(
        ["a", "b", "c"], att[0, :3, :3], att[0, :3, :3] > 0.1, hover=["x"] * 3,
        focus=0, selected=1, masked=[2], greyed=[1], title="g",
    )  # fmt: skip
    go.Figure(graph)
    traces = [t for t in graph["data"] if t.get("mode") == "text"]
    assert [t["name"] for t in traces] == ["left", "right"]
    assert traces[0]["x"] == [0.0] * 3 and traces[1]["x"] == [1.0] * 3
    assert traces[0]["hovertext"] == ["x"] * 3


def test_url_state_edges_a_hand_edited_link_can_reach():
    assert urlstate.parse("?threshold=abc").threshold == 0.7
    assert urlstate.parse("?mode=heatmap&hide_special=1&model=m").extra == {}
    assert urlstate.parse("").extra == {} and urlstate.parse("?").layer == 0
    assert urlstate.clamp(ViewState(token=0, masks=(0,)), 6, 12, 8).token == 0
    assert urlstate.clamp(ViewState(layer=1), 6, 12, 8).layer == 1
    for layer, kept in ((2**31 - 1, 2**31 - 1), (2**31, 0), (100, 100), (-100, -100)):
        assert ViewState.from_dict({"layer": layer}).layer == kept
    assert ViewState.from_dict({"layer": -(2**31)}).layer == 0


def test_heatmaps_read_query_rows_top_down_on_a_scale_from_zero():
    """What a reader relies on: token ticks on both axes, the first query row on top, white
    at zero and the darkest colour at the largest weight (the thumbnails: at 1, the same
    for every head so heads compare), square thumbnail cells that do not zoom."""
    labels = ["[CLS]", "the", "cat"]
    matrix = np.array([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3], [0.0, 0.1, 0.4]])
    fig = figures.attention_heatmap(labels, matrix, "layer 1")
    trace, layout = fig.data[0], fig.layout
    assert list(trace.x) == list(trace.y) == ["0:[CLS]", "1:the", "2:cat"]
    np.testing.assert_array_equal(trace.z, matrix)
    assert (trace.zmin, trace.zmax) == (0, 0.6)
    assert [list(c) for c in trace.colorscale] == [[0, "#ffffff"], [1, "#08306b"]]
    assert layout.yaxis.autorange == "reversed" and layout.yaxis.title.text == "from (query)"
    assert layout.xaxis.title.text == "to (key)"
    assert trace.hovertemplate.startswith("%{y} → %{x}: %{z:.3f}")
    assert layout.height >= 300 and layout.title.text == "layer 1"
    assert figures.attention_heatmap(labels, np.zeros((3, 3))).data[0].zmax > 0  # still a scale

    thumbs = figures.head_thumbnails(np.stack([matrix, matrix.T]), [0], columns=2)
    t, lay = thumbs["data"][0], thumbs["layout"]
    assert (t["zmin"], t["zmax"]) == (0, 1) and t["colorscale"][0] == [0, "#ffffff"]
    assert t["showscale"] is False and t["hoverinfo"] == "none"
    assert lay["yaxis"]["autorange"] == "reversed" and lay["yaxis"]["scaleanchor"] == "x"
    assert lay["xaxis"]["fixedrange"] and lay["yaxis"]["fixedrange"]
    assert not lay["xaxis"]["visible"] and not lay["yaxis"]["visible"]
    assert [a["text"] for a in lay["annotations"]] == ["head 0", "head 1"]
    # head 1's block holds its own pattern, top-left at row `top`, column dx
    z = np.asarray(t["z"], dtype=float)
    dx, dy = figures.thumbnail_pitch(3)
    top = dy - 3
    np.testing.assert_array_equal(z[top : top + 3, 0:3], np.round(matrix, 2))
    np.testing.assert_array_equal(z[top : top + 3, dx : dx + 3], np.round(matrix.T, 2))


def test_the_layer_figure_carries_hover_marks_and_title_onto_the_tokens_it_keeps():
    """With special tokens hidden, each kept token keeps its own hover text, colour (the
    selected one accented, a masked one red) and full-list index; the title and the
    heatmap's title pass through."""
    att = np.full((2, 4, 4), 0.25)
    labels, special = ["[CLS]", "the", "cat", "[SEP]"], [True, False, False, True]
    hover = ["h-cls", "h-the", "h-cat", "h-sep"]
    fig = figures.attention_figure(
        att, [0, 1], labels, special, hover, hide_special=True, selected=1, masked=[2],
        title="layer 3",
    )  # fmt: skip
    left, right = fig["data"][-2], fig["data"][-1]
    assert left["text"] == ["the", "cat"] and left["hovertext"] == ["h-the", "h-cat"]
    assert left["textfont"]["color"] == [figures.ACCENT, figures.MASKED]
    assert right["customdata"] == [1, 2] and fig["layout"]["title"]["text"] == "layer 3"
    causal = figures.attention_figure(att, [0], labels, special, hover, causal=True, focus=1)
    assert causal["data"][-1]["textfont"]["color"][2:] == [figures.GREY, figures.GREY]
    heat = figures.attention_figure(att, [0], labels, special, hover, mode="heatmap", title="t")
    assert heat.layout.title.text == "t"
    assert figures.display_label("x", masked=True) == "[MASK]"
    assert figures.display_label("x", masked=True, mask_token="<mask>") == "<mask>"
    assert figures.display_label("ĠĊ") == "↵" and figures.display_label("Ġ") == "␣"
    same = np.arange(16.0).reshape(4, 4)
    assert figures.pool(same, 4) is same  # already small enough: untouched
    np.testing.assert_array_equal(figures.pool(same, 2), [[5, 7], [13, 15]])  # block maxima
