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
