"""How attention weights are stored: one byte per weight, [heads, T, T] per layer.

Ingestion quantises, search and the head statistics read the bytes back; the
scale lives here alone, so no reader divides by a number of its own.
"""

from __future__ import annotations

import numpy as np

LEVELS = 255  # a stored attention weight is byte / LEVELS


def quantize(attention: np.ndarray) -> bytes:
    """[heads, T, T] weights in [0, 1] to uint8 bytes."""
    levels = np.rint(attention * float(LEVELS))
    return np.clip(levels, 0, LEVELS).astype(np.uint8).tobytes()


def as_bytes(weights: bytes, heads: int, tokens: int) -> np.ndarray:
    """The stored bytes as a uint8 [heads, T, T] view (no copy)."""
    return np.frombuffer(weights, dtype=np.uint8).reshape(heads, tokens, tokens)


def dequantize(weights: bytes, heads: int, tokens: int) -> np.ndarray:
    """The stored weights as float32 [heads, T, T]."""
    return as_bytes(weights, heads, tokens).astype(np.float32) / LEVELS
