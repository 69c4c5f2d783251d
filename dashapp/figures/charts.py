"""Charts beside the attention view: predictions, search summaries, placeholders.

Pure builders like figures/attention.py: data in, Plotly figures out.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

ACCENT = "#1f77b4"


def prediction_bars(predictions: Sequence[tuple[str, float]], title: str) -> go.Figure:
    """Top-k predictions as horizontal bars, most likely on top."""
    tokens = [repr(t)[1:-1] if t.strip() != t or not t else t for t, _ in predictions]
    fig = go.Figure(
        go.Bar(
            x=[p for _, p in predictions],
            y=tokens,
            orientation="h",
            marker_color=ACCENT,
            text=[f"{p:.1%}" for _, p in predictions],
            textposition="auto",
            hovertemplate="%{y}: %{x:.2%}<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": title, "font": {"size": 13}},
        height=60 + 28 * len(predictions),
        margin={"l": 90, "r": 10, "t": 36, "b": 20},
        yaxis={"autorange": "reversed"},
        xaxis={"range": [0, 1], "tickformat": ".0%"},
    )
    return fig


def empty_figure(height: int = 120) -> go.Figure:
    """A blank placeholder (no axes) for before there is anything to draw."""
    fig = go.Figure()
    fig.update_layout(
        height=height,
        xaxis={"visible": False},
        yaxis={"visible": False},
        plot_bgcolor="white",
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
    )
    return fig


SUMMARY_TITLES = {"pos": "part of speech", "dep": "dependency", "ent_type": "entity type"}
ATTENDED = "#ff7f0e"
OFFSET_REACH = 10  # offsets beyond ±10 share a bin at each end


def offset_bins(offsets: dict[str, int], reach: int = OFFSET_REACH) -> tuple[list[str], list[int]]:
    """Offset counts on a fixed, readable axis: -reach..+reach and a bin for each side beyond."""
    labels = [f"≤-{reach + 1}", *(f"{i:+d}" if i else "0" for i in range(-reach, reach + 1))]
    labels.append(f"≥+{reach + 1}")
    counts = [0] * len(labels)
    for key, n in offsets.items():
        offset = int(key)
        counts[0 if offset < -reach else -1 if offset > reach else offset + reach + 1] += n
    return labels, counts


def summary_figure(summary: dict, top: int = 12) -> dict:
    """Every histogram of a search's summary in one figure: what the matches are (row 1),
    what they attend to most (row 2), and where that is relative to them (row 3).
    One figure draws far faster in the browser than seven."""
    matched = "token after each match" if summary.get("match_is_next_token") else "matches"
    panels = [
        (summary["match"][name], f"{matched}: {SUMMARY_TITLES[name]}", ACCENT)
        for name in SUMMARY_TITLES
    ] + [
        (summary["max_attention"][name], f"most attended: {SUMMARY_TITLES[name]}", ATTENDED)
        for name in SUMMARY_TITLES
    ]
    data, layout, annotations = [], {}, []
    rows = [(0.73, 1.0), (0.33, 0.60), (0.0, 0.20)]  # y domains, top to bottom; gaps for ticks
    columns = [(0.0, 0.31), (0.345, 0.655), (0.69, 1.0)]
    for i, (counts, title, colour) in enumerate(panels):
        axis = "" if i == 0 else str(i + 1)
        items = list(counts.items())[:top]
        data.append(
            {
                "type": "bar",
                "x": [k for k, _ in items],
                "y": [v for _, v in items],
                "xaxis": f"x{axis}",
                "yaxis": f"y{axis}",
                "marker": {"color": colour},
                "hovertemplate": "%{x}: %{y}<extra></extra>",
            }  # fmt: skip
        )
        (y0, y1), (x0, x1) = rows[i // 3], columns[i % 3]
        layout[f"xaxis{axis}"] = {"domain": [x0, x1], "anchor": f"y{axis}", "type": "category",
                                  "tickangle": -40, "tickfont": {"size": 10}, "automargin": False}  # fmt: skip
        layout[f"yaxis{axis}"] = {"domain": [y0, y1], "anchor": f"x{axis}", "rangemode": "tozero"}
        annotations.append(_panel_title(title, (x0 + x1) / 2, y1))
    labels, counts = offset_bins(summary["offset"])
    data.append(
        {
            "type": "bar",
            "x": labels,
            "y": counts,
            "xaxis": "x7",
            "yaxis": "y7",
            "marker": {"color": ATTENDED},
            "hovertemplate": "offset %{x}: %{y}<extra></extra>",
        }  # fmt: skip
    )
    layout["xaxis7"] = {"domain": [0, 1], "anchor": "y7", "type": "category",
                        "categoryorder": "array", "categoryarray": labels}  # fmt: skip
    layout["yaxis7"] = {"domain": list(rows[2]), "anchor": "x7", "rangemode": "tozero"}
    annotations.append(
        _panel_title(
            "offset: most-attended position minus match position (-1: the token before)",
            0.5,
            rows[2][1],
        )  # fmt: skip
    )
    layout.update(
        height=720,
        margin={"l": 36, "r": 8, "t": 28, "b": 40},
        showlegend=False,
        annotations=annotations,
        plot_bgcolor="white",
        bargap=0.15,
    )
    return {"data": data, "layout": layout}


def _panel_title(text: str, x: float, top: float) -> dict:
    return {"text": text, "x": x, "y": top, "xref": "paper", "yref": "paper", "yanchor": "bottom",
            "showarrow": False, "font": {"size": 12}}  # fmt: skip


# Plotly's mode bar on hover, with only what a reader of these figures needs: the
# camera (PNG at twice the size); figure_export.py adds SVG for papers.
FIGURE_CONFIG = {
    "displaylogo": False,
    "modeBarButtonsToRemove": [
        "zoom2d", "pan2d", "select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d",
        "resetScale2d", "hoverClosestCartesian", "hoverCompareCartesian", "toggleSpikelines",
    ],
    "toImageButtonOptions": {"format": "png", "scale": 2, "filename": "exbert"},
}  # fmt: skip


def distribution_figure(distribution: dict[str, list[tuple[str, int]]], corpus: str) -> go.Figure:
    """A corpus's parts of speech and entity types, side by side, as shares."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("part of speech", "entity type"))
    for col, kind in ((1, "pos"), (2, "ent_type")):
        pairs = distribution.get(kind) or []
        total = sum(n for _, n in pairs) or 1
        fig.add_trace(
            go.Bar(
                x=[label for label, _ in pairs],
                y=[n / total for _, n in pairs],
                customdata=[n for _, n in pairs],
                marker_color=ACCENT,
                hovertemplate="%{x}: %{y:.1%} (%{customdata:,})<extra></extra>",
            ),
            row=1,
            col=col,
        )
    fig.update_yaxes(tickformat=".0%")
    fig.update_layout(
        title={"text": f"{corpus}: what its words are", "font": {"size": 13}},
        height=260,
        showlegend=False,
        margin={"l": 40, "r": 10, "t": 50, "b": 40},
    )
    return fig
