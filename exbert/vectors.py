"""Vector normalisation shared by ingestion and search.

Stored vectors are normalised so that pgvector's cosine distance means what
the UI promises: hidden states to unit length; contexts with each head's
segment to unit length, so the cosine of two whole context vectors (with the
query's unselected heads zeroed) is the mean per-head cosine over the
selected heads.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

EPS = 1e-12


def unit(v: np.ndarray) -> np.ndarray:
    """Scale the last axis to unit length (zero vectors stay zero)."""
    v = np.asarray(v, dtype=np.float32)
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(norm, EPS)


def unit_heads(v: np.ndarray, heads: int) -> np.ndarray:
    """Scale each head's segment of the last axis to unit length."""
    v = np.asarray(v, dtype=np.float32)
    shape = v.shape
    per_head = v.reshape(*shape[:-1], heads, shape[-1] // heads)
    return unit(per_head).reshape(shape)


def half(v: np.ndarray) -> np.ndarray:
    """A float16 copy, as the store keeps vectors (halfvec). Through torch, which
    converts faster than numpy (docs/benchmarks.md, ingestion)."""
    return torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)).half().numpy()


def half_unit(v: np.ndarray, heads: int = 1) -> np.ndarray:
    """`half(unit_heads(v, heads))` in one torch pass, as ingestion stores vectors: half
    the time of the numpy steps (the same values but for 1 float16 cell in ~30,000,
    one unit in the last place)."""
    t = torch.from_numpy(np.asarray(v, dtype=np.float32))
    shape = t.shape
    per_head = t.reshape(*shape[:-1], heads, shape[-1] // heads)
    return torch.nn.functional.normalize(per_head, dim=-1, eps=EPS).reshape(shape).half().numpy()


def context_query(v: np.ndarray, heads: int, selected: Sequence[int]) -> np.ndarray:
    """A context query: per-head unit segments, unselected heads zeroed.

    Scaled to unit length overall, so its cosine with a stored context equals
    the mean per-head cosine over the selected heads.
    """
    if not selected:
        raise ValueError("select at least one head to search by context")
    per_head = unit_heads(v, heads).reshape(heads, -1)
    mask = np.zeros(heads, dtype=bool)
    mask[list(selected)] = True
    per_head[~mask] = 0.0
    return unit(per_head.reshape(-1))
