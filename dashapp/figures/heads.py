"""The head atlas figure: one statistic over layers x heads, each cell's rank on hover."""

from __future__ import annotations

import numpy as np

STAT_TITLES = {
    "previous": "attention to the previous token",
    "next": "attention to the next token",
    "self": "attention to itself",
    "first": "attention to the first token ([CLS] / BOS)",
    "last": "attention to the last token ([SEP] / EOS)",
    "punctuation": "attention to punctuation",
    "entropy": "entropy of the attention (nats; low: focused)",
    "dependency": "dependency accuracy",
}


def ranks(grid: np.ndarray, descending: bool = True) -> np.ndarray:
    """Each cell's rank (1 = the highest, or the lowest when not `descending`), ties sharing."""
    values = grid.ravel()
    order = -values if descending else values
    return (np.searchsorted(np.sort(order), order) + 1).reshape(grid.shape)


def atlas_figure(grid, title: str, descending: bool = True, reference: float | None = None) -> dict:
    """A layers x heads heatmap (layer 0 at the top); `reference` (a baseline, the uniform
    entropy) is named in the title, for reading the colours against it."""
    grid = np.asarray(grid, dtype=float)
    layers, heads = grid.shape
    rank = ranks(grid, descending)
    text = [[f"layer {layer}, head {head}: {grid[layer, head]:.3f}<br>rank {rank[layer, head]} of {grid.size}"
             for head in range(heads)] for layer in range(layers)]  # fmt: skip
    if reference is not None:
        title += f" (baseline {reference:.3f})"
    return {
        "data": [
            {
                "type": "heatmap",
                "z": np.round(grid, 4),
                "x": list(range(heads)),
                "y": list(range(layers)),
                "text": text,
                "hoverinfo": "text",
                "colorscale": "Viridis" if descending else "Viridis_r",
                "colorbar": {"thickness": 12},
                "xgap": 1,
                "ygap": 1,
            }
        ],
        "layout": {
            "title": {"text": title, "font": {"size": 14}},
            "height": max(260, 28 * layers + 120),
            "margin": {"l": 60, "r": 20, "t": 44, "b": 44},
            "xaxis": {"title": "head", "dtick": 1, "fixedrange": True},
            "yaxis": {"title": "layer", "dtick": 1, "autorange": "reversed", "fixedrange": True},
            "plot_bgcolor": "white",
        },
    }
