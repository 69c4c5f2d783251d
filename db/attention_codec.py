"""How attention weights are stored: one byte per weight, [heads, T, T] per layer.

Ingestion quantises, search and the head statistics read the bytes back; the
scale lives here alone, so no reader divides by a number of its own.
"""

from __future__ import annotations

import numpy as np

LEVELS = 255  # a stored attention weight is byte / LEVELS


def to_levels(attention: np.ndarray) -> np.ndarray:
    """Weights in [0, 1] as the uint8 levels stored (any shape)."""
    attention = np.asarray(attention)
    levels = np.multiply(attention, float(LEVELS), dtype=np.result_type(attention, np.float32))
    np.rint(levels, out=levels)  # in place: ingestion converts every sentence's attention
    np.clip(levels, 0, LEVELS, out=levels)
    return levels.astype(np.uint8)


def quantize(attention: np.ndarray) -> bytes:
    """[heads, T, T] weights in [0, 1] to uint8 bytes."""
    return to_levels(attention).tobytes()


def as_bytes(weights: bytes, heads: int, tokens: int) -> np.ndarray:
    """The stored bytes as a uint8 [heads, T, T] view (no copy)."""
    return np.frombuffer(weights, dtype=np.uint8).reshape(heads, tokens, tokens)


def dequantize(weights: bytes, heads: int, tokens: int) -> np.ndarray:
    """The stored weights as float32 [heads, T, T]."""
    return from_levels(as_bytes(weights, heads, tokens))


def from_levels(levels: np.ndarray) -> np.ndarray:
    """uint8 levels as the float32 weights they store."""
    return levels.astype(np.float32) / LEVELS
