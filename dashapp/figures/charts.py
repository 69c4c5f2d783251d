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


def summary_bars(counts: dict[str, int], title: str, colour: str = ACCENT, top: int = 12) -> dict:
    """A histogram of annotation labels, most frequent first (as a plain figure dict)."""
    items = list(counts.items())[:top]
    return {
        "data": [
            {
                "type": "bar",
                "x": [k for k, _ in items],
                "y": [v for _, v in items],
                "marker": {"color": colour},
                "hovertemplate": "%{x}: %{y}<extra></extra>",
            }
        ],
        "layout": {
            "title": {"text": title, "font": {"size": 12}},
            "height": 200,
            "margin": {"l": 30, "r": 8, "t": 30, "b": 50},
            "xaxis": {"tickangle": -45, "type": "category"},
            "yaxis": {"rangemode": "tozero"},
        },
    }


def offset_bars(offsets: dict[str, int]) -> dict:
    """Where matches look: offset from each match to the token it attends to most (-1: the previous token)."""
    xs = sorted(int(k) for k in offsets)
    return {
        "data": [
            {
                "type": "bar",
                "x": xs,
                "y": [offsets[str(x)] for x in xs],
                "marker": {"color": "#ff7f0e"},
                "hovertemplate": "offset %{x}: %{y}<extra></extra>",
            }
        ],
        "layout": {
            "title": {
                "text": "offset: most-attended position minus match position",
                "font": {"size": 12},
            },
            "height": 200,
            "margin": {"l": 30, "r": 8, "t": 30, "b": 30},
            "xaxis": {"dtick": 1, "zeroline": True},
            "yaxis": {"rangemode": "tozero"},
        },
    }
