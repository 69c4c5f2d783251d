"""The attention figures: lines between tokens, the heatmap, the head thumbnails.

Pure builders: numpy and token lists in, Plotly figures (plain dicts where
validation would cost more than the model run) out. Nothing here knows about
Dash, models or the database, so every figure is unit-tested without a browser.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

# Line opacity is quantised into this many buckets, one trace each: per-line
# opacity with one trace per line would mean T^2 traces.
OPACITY_BUCKETS = 10
ACCENT = "#1f77b4"
MASKED = "#d62728"
GREY = "#c8c8c8"


def combine_heads(layer_attention: np.ndarray, heads: Sequence[int]) -> np.ndarray:
    """Mean over the selected heads of one layer's [head, q, k] attention (zeros if none)."""
    if not len(heads):
        return np.zeros(layer_attention.shape[1:], dtype=np.float32)
    return layer_attention[list(heads)].mean(axis=0)


def drop_special(matrix: np.ndarray, special: Sequence[bool]) -> tuple[np.ndarray, list[int]]:
    """Remove special tokens' rows and columns and renormalise each row to sum to 1."""
    keep = [i for i, s in enumerate(special) if not s]
    sub = matrix[np.ix_(keep, keep)]
    sums = sub.sum(axis=1, keepdims=True)
    return np.divide(sub, sums, out=np.zeros_like(sub), where=sums > 0), keep


def keep_mask(matrix: np.ndarray, threshold: float) -> np.ndarray:
    """Per row, the strongest links that together hold `threshold` of its attention mass.

    exBERT's rule: faint lines go, and a row is never left empty while it has mass.
    """
    keep = np.zeros(matrix.shape, dtype=bool)
    if threshold >= 1.0:
        return matrix > 0
    for q, row in enumerate(matrix):
        total = row.sum()
        if total <= 0:
            continue
        order = np.argsort(-row, kind="stable")
        cumulative = np.cumsum(row[order])
        count = int(np.searchsorted(cumulative, threshold * total - 1e-9)) + 1
        keep[q, order[:count]] = True
    return keep


def _bucket(weight: float) -> int:
    return min(OPACITY_BUCKETS - 1, int(weight * OPACITY_BUCKETS))


def line_style(weight: float) -> tuple[float, float]:
    """(opacity, width) of a line of this weight: both grow with the weight."""
    b = _bucket(weight)
    level = (b + 1) / OPACITY_BUCKETS
    return 0.08 + 0.92 * level, 1.0 + 5.0 * level


def attention_graph(
    labels: Sequence[str],
    matrix: np.ndarray,
    keep: np.ndarray,
    hover: Sequence[str] | None = None,
    focus: int | None = None,
    selected: int | None = None,
    masked: Sequence[int] = (),
    greyed: Sequence[int] = (),
    title: str = "",
) -> dict:
    """Tokens on the left (from) and right (to), a line per kept link.

    `focus` shows only that left token's lines; `greyed` right-hand tokens are
    ones the query cannot see (later tokens of a causal model). Returned as a
    plain figure dict: plotly's validated objects cost more than the model run.
    """
    n = len(labels)
    y = -np.arange(n, dtype=float)
    buckets: dict[int, tuple[list, list]] = {}
    rows = [focus] if focus is not None else range(n)
    for q in rows:
        for k in np.nonzero(keep[q])[0]:
            xs, ys = buckets.setdefault(_bucket(float(matrix[q, k])), ([], []))
            xs.extend((0.0, 1.0, None))
            ys.extend((float(y[q]), float(y[k]), None))
    data = []
    for b in sorted(buckets):
        xs, ys = buckets[b]
        opacity, width = line_style((b + 0.5) / OPACITY_BUCKETS)
        data.append(
            {
                "type": "scatter",
                "x": xs,
                "y": ys,
                "mode": "lines",
                "hoverinfo": "skip",
                "showlegend": False,
                "line": {"color": ACCENT, "width": width},
                "opacity": opacity,
                "name": f"bucket {b}",
            }
        )
    masked_set, greyed_set = set(masked), set(greyed)

    def colours(side: str) -> list[str]:
        out = []
        for i in range(n):
            if i in masked_set:
                out.append(MASKED)
            elif side == "right" and i in greyed_set:
                out.append(GREY)
            elif i == selected or i == focus:
                out.append(ACCENT)
            else:
                out.append("#222")
        return out

    for side, x, anchor in (("left", 0.0, "middle left"), ("right", 1.0, "middle right")):
        data.append(
            {
                "type": "scatter",
                "x": [x] * n,
                "y": y.tolist(),
                "mode": "text",
                "text": list(labels),
                "name": side,
                "textposition": anchor,
                "textfont": {"color": colours(side), "size": 14},
                "cliponaxis": False,
                "hovertext": list(hover) if hover else None,
                "hoverinfo": "text" if hover else "skip",
                "showlegend": False,
            }
        )
    layout = {
        "title": {"text": title, "font": {"size": 13}},
        "height": max(220, 26 * n + 60),
        "margin": {"l": 40, "r": 40, "t": 36, "b": 8},
        # the token texts lie inside the plot area, where hovering and clicking them works
        "xaxis": {"visible": False, "range": [-0.6, 1.6], "fixedrange": True},
        "yaxis": {"visible": False, "range": [-n + 0.5, 0.8], "fixedrange": True},
        "plot_bgcolor": "white",
        "hovermode": "closest",
        "hoverdistance": 60,  # a token's text lies left/right of its point; hovering the text counts
        "dragmode": False,
        "uirevision": "graph",
    }
    return {"data": data, "layout": layout}


def attention_heatmap(labels: Sequence[str], matrix: np.ndarray, title: str = "") -> go.Figure:
    """The same matrix as a heatmap: rows attend (query), columns are attended (key)."""
    ticks = [f"{i}:{t}" for i, t in enumerate(labels)]
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=ticks,
            y=ticks,
            colorscale=[[0, "#ffffff"], [1, "#08306b"]],
            zmin=0,
            zmax=float(max(matrix.max(), 1e-9)),
            hovertemplate="%{y} → %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": title, "font": {"size": 13}},
        height=max(300, 22 * len(labels) + 120),
        margin={"l": 100, "r": 20, "t": 36, "b": 100},
        yaxis={"autorange": "reversed", "title": "from (query)"},
        xaxis={"title": "to (key)"},
    )
    return fig


THUMB_COLUMNS = 4  # wide enough that "head 11" labels never meet, at any number of heads
THUMB_CELLS = 16  # a thumbnail is ~80 px wide: longer inputs are pooled to this many cells


def thumbnail_cells(tokens: int) -> int:
    """Cells along a thumbnail's side for an input of `tokens` tokens."""
    return min(tokens, THUMB_CELLS)


def pool(matrix: np.ndarray, cells: int) -> np.ndarray:
    """[..., T, T] attention pooled to [..., cells, cells] by block maxima, which keep the
    sharp patterns (a diagonal, a column) that a thumbnail is for."""
    n = matrix.shape[-1]
    if n <= cells:
        return matrix
    edges = np.linspace(0, n, cells + 1).astype(int)[:-1]
    return np.maximum.reduceat(np.maximum.reduceat(matrix, edges, axis=-1), edges, axis=-2)


def thumbnail_pitch(tokens: int) -> tuple[int, int]:
    """(columns, rows) of grid cells from one thumbnail's corner to the next: a blank
    column between thumbnails, and blank rows above each for its label."""
    return tokens + max(1, tokens // 8), tokens + max(2, (tokens * 3) // 10)


def head_thumbnails(
    layer_attention: np.ndarray, selected: Sequence[int], columns: int = THUMB_COLUMNS
) -> dict:
    """Every head's attention pattern in one heatmap grid; unselected heads veiled.

    One trace for all heads keeps this fast; `head_at` maps a clicked cell back
    to its head.
    """
    layer_attention = pool(layer_attention, THUMB_CELLS)
    heads, n, _ = layer_attention.shape
    rows = -(-heads // columns)
    dx, dy = thumbnail_pitch(n)
    top = dy - n  # the label rows above the first thumbnail
    grid = np.full((rows * dy, columns * dx - (dx - n)), np.nan)
    for h in range(heads):
        r, c = divmod(h, columns)
        grid[top + r * dy : top + r * dy + n, c * dx : c * dx + n] = layer_attention[h]
    chosen = set(selected)
    shapes, annotations = [], []
    for h in range(heads):
        r, c = divmod(h, columns)
        x0, y0 = c * dx - 0.5, top + r * dy - 0.5
        # one veil per head (shape h is head h's), shown while the head is unselected: a
        # toggle in the browser then only flips `visible` (assets/exbert.js, veilHeads)
        shapes.append(
            {
                "type": "rect",
                "x0": x0,
                "x1": x0 + n,
                "y0": y0,
                "y1": y0 + n,
                "visible": h not in chosen,
                "fillcolor": "white",
                "opacity": 0.65,
                "line": {"width": 0},
            }  # fmt: skip
        )
        annotations.append(
            {
                "x": x0 + n / 2,
                "y": y0 - 0.1,
                "text": f"head {h}",
                "showarrow": False,
                "font": {"size": 11},
                "yanchor": "bottom",
            }  # fmt: skip
        )
    z = np.round(grid, 2)  # NaN gaps travel as null
    return {
        "data": [
            {
                "type": "heatmap",
                "z": z,
                "colorscale": [[0, "#ffffff"], [1, "#08306b"]],
                "zmin": 0,
                "zmax": 1,
                "showscale": False,
                "hoverinfo": "none",
                "xgap": 0,
                "ygap": 0,
            }
        ],
        "layout": {
            "height": 104 * rows + 8,
            "margin": {"l": 4, "r": 4, "t": 4, "b": 4},
            "xaxis": {"visible": False, "fixedrange": True, "constrain": "domain"},
            "yaxis": {
                "visible": False,
                "fixedrange": True,
                "autorange": "reversed",
                "scaleanchor": "x",
            },
            "shapes": shapes,
            "annotations": annotations,
            "plot_bgcolor": "white",
            "uirevision": "thumbs",
            # the grid's geometry, for the browser's twin of `head_at` (assets/exbert.js)
            "meta": {"cells": n, "dx": dx, "dy": dy, "columns": columns, "heads": heads},
        },
    }


def head_at(
    x: float, y: float, tokens: int, heads: int, columns: int = THUMB_COLUMNS
) -> int | None:
    """The head whose thumbnail holds grid cell (x, y), or None for the gaps."""
    tokens = thumbnail_cells(tokens)
    dx, dy = thumbnail_pitch(tokens)
    col, x_in = divmod(int(round(x)), dx)
    row, y_in = divmod(int(round(y)) - (dy - tokens), dy)
    if not (0 <= x_in < tokens and 0 <= y_in < tokens) or col >= columns or row < 0:
        return None
    head = row * columns + col
    return head if 0 <= head < heads else None


def display_label(text: str, masked: bool = False, mask_token: str | None = None) -> str:
    """A token as people read it: byte-level and SentencePiece space markers dropped."""
    if masked:
        return mask_token or "[MASK]"
    if text[:1] in ("Ġ", "▁"):
        text = text[1:] or "␣"
    return text.replace("Ċ", "↵") or "␣"


def attention_figure(
    layer_attention: np.ndarray,
    heads: Sequence[int],
    labels: Sequence[str],
    special: Sequence[bool],
    hover: Sequence[str],
    threshold: float = 0.7,
    hide_special: bool = False,
    mode: str = "graph",
    focus: int | None = None,
    selected: int | None = None,
    masked: Sequence[int] = (),
    causal: bool = False,
    title: str = "",
) -> dict | go.Figure:
    """The attention view for one layer and a head selection, graph or heatmap.

    Token indices (`focus`, `selected`, `masked`) are positions in the full
    token list; with `hide_special` they are mapped onto the remaining tokens.
    """
    matrix = combine_heads(layer_attention, heads)
    index = list(range(len(labels)))
    if hide_special:
        matrix, index = drop_special(matrix, special)
    position = {orig: i for i, orig in enumerate(index)}
    sub_labels = [labels[i] for i in index]
    if mode == "heatmap":
        return attention_heatmap(sub_labels, matrix, title)
    anchor = focus if focus is not None else selected
    greyed = []
    if causal and anchor in position:
        greyed = [j for j, orig in enumerate(index) if orig > anchor]
    fig = attention_graph(
        sub_labels,
        matrix,
        keep_mask(matrix, threshold),
        hover=[hover[i] for i in index],
        focus=position.get(focus),
        selected=position.get(selected),
        masked=[position[m] for m in masked if m in position],
        greyed=greyed,
        title=title,
    )
    for trace in fig["data"][-2:]:
        trace["customdata"] = index  # clicks and hovers report full-list token indices
    return fig
