"""PostgreSQL's binary COPY format for the vector rows, built with numpy.

A per-row Python writer spent more time converting than the server spent
storing (docs/benchmarks.md, ingestion); these build a whole block of rows in
one numpy pass.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# signature, flags, header extension; -1 as a field count ends the data
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = b"\xff\xff"

VECTOR_COLUMNS = (
    "space_id, token_id, embedding, corpus_id, document_id, sentence_id, position, "
    "pos_id, tag_id, dep_id, ent_id"
)


def binary_copy_rows(n: int, fields: Sequence[tuple[np.dtype, np.ndarray | int | None]]) -> bytes:
    """`n` binary COPY rows of fixed-width fields; a field given as None is NULL in every row."""
    spec: list[tuple] = [("count", ">i2")]
    for i, (dtype, values) in enumerate(fields):
        spec.append((f"len{i}", ">i4"))
        if values is not None:
            spec.append((f"f{i}", dtype))
    out = np.empty(n, dtype=spec)
    out["count"] = len(fields)
    for i, (dtype, values) in enumerate(fields):
        if values is None:
            out[f"len{i}"] = -1
        else:
            out[f"len{i}"] = np.dtype(dtype).itemsize
            out[f"f{i}"] = values
    return out.tobytes()


def halfvec_binary(matrix: np.ndarray) -> np.ndarray:
    """Rows of `matrix` in halfvec's binary wire format (dim int2, unused int2, float16 values)."""
    n, dim = matrix.shape
    out = np.empty(n, dtype=[("dim", ">i2"), ("unused", ">i2"), ("values", ">f2", (dim,))])
    out["dim"], out["unused"], out["values"] = dim, 0, matrix
    return out


@dataclass
class TokenColumns:
    """Documents' tokens as the columns every vector row repeats (see schema.Vector)."""

    corpus_id: int
    document_id: np.ndarray  # int64
    token_id: np.ndarray  # int64
    sentence_id: np.ndarray  # int64
    position: np.ndarray  # int16
    codes: np.ndarray  # int16 [n, 4]: pos, tag, dep, ent_type label codes; -1 without a word

    @functools.cached_property
    def parts(self) -> list[tuple[np.ndarray, list]]:
        """(rows, the fields after the vector) of the tokens with a word and of those
        without one (their labels NULL): the same for every space."""
        has_word = self.codes[:, 0] >= 0
        out = []
        for rows, word in ((np.flatnonzero(has_word), True), (np.flatnonzero(~has_word), False)):
            if len(rows):
                labels = [(">i2", self.codes[rows, j] if word else None) for j in range(4)]
                fields = [
                    (">i4", self.corpus_id),
                    (">i8", self.document_id[rows]),
                    (">i8", self.sentence_id[rows]),
                    (">i2", self.position[rows]),
                ]
                out.append((rows, fields + labels))
        return out


def vector_copy_rows(space_id: int, tokens: TokenColumns, matrix: np.ndarray) -> bytes:
    """Binary COPY rows (VECTOR_COLUMNS) of one space's vectors, `matrix[i]` for token i."""
    out = []
    for rows, after in tokens.parts:
        vectors = halfvec_binary(matrix[rows])
        fields = [(">i4", space_id), (">i8", tokens.token_id[rows]), (vectors.dtype, vectors)]
        out.append(binary_copy_rows(len(rows), fields + after))
    return b"".join(out)
