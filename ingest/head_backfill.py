"""Count the head statistics of documents stored before ingestion counted them.

Reads each document's stored tokens, words and attention bytes and adds the same
counts ingestion would have added (both count the weights as stored), a group of
documents per transaction, each marked counted in it: a rerun or a second
process picks up only what is left, and a killed run loses nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from db import attention_codec, head_stats, reads, writes
from exbert.head_stats import HeadCounts, group_counts

GROUP = 20  # documents per transaction


@dataclass
class BackfillSummary:
    documents: int = 0
    sentences: int = 0


def _model(session: Session, model: str) -> tuple[int, int, int, bool]:
    row = session.execute(
        text("SELECT id, layers, heads, kind FROM models WHERE name = :m"), {"m": model}
    ).first()
    if row is None:
        raise ValueError(f"No model {model[:100]!r} in the store.")
    return row[0], row[1], row[2], row[3] == "causal"


def _corpus(session: Session, corpus: str) -> int:
    cid = session.scalar(text("SELECT id FROM corpora WHERE name = :c"), {"c": corpus})
    if cid is None:
        raise ValueError(f"No corpus named {corpus[:100]!r}.")
    return cid


def document_counts(
    session: Session, document_id: int, model_id: int, layers: int, heads: int, causal: bool
) -> HeadCounts:
    """One stored document's head statistics, from its stored rows."""
    sentences = reads.document_sentences(session, document_id)
    ids = [sid for sid, _, _, _ in sentences]
    tokens = reads.sentences_with_tokens(session, model_id, ids)
    levels: dict[int, np.ndarray] = {}
    for sid, layer, n_heads, n, weights in session.execute(
        text(
            "SELECT sentence_id, layer, heads, tokens, weights FROM attentions "
            "WHERE model_id = :m AND sentence_id = ANY(:ids) ORDER BY sentence_id, layer"
        ),
        {"m": model_id, "ids": ids},
    ):
        grid = levels.setdefault(sid, np.zeros((layers, n_heads, n, n), dtype=np.uint8))
        grid[layer] = attention_codec.as_bytes(weights, n_heads, n)
    counted = [
        (levels[sid], tokens[sid].tokens, words)
        for sid, _, _, words in sentences
        if sid in levels and sid in tokens
    ]
    return group_counts(counted, layers, heads, causal, top=attention_codec.LEVELS)


def backfill(
    sessions: sessionmaker[Session],
    corpus: str,
    model: str,
    progress: Callable[[int, int], None] | None = None,
) -> BackfillSummary:
    """Count every document of `corpus` stored for `model` and not counted yet."""
    with sessions.begin() as s:
        corpus_id = _corpus(s, corpus)
        model_id, layers, heads, causal = _model(s, model)
        todo = head_stats.uncounted_documents(s, corpus_id, model_id)
    summary = BackfillSummary()
    for start in range(0, len(todo), GROUP):
        group = todo[start : start + GROUP]
        with sessions.begin() as s:
            writes.lock_documents(s, corpus_id, [f"doc:{d}" for d in group])
            group = head_stats.still_uncounted(s, model_id, group)
            counts = HeadCounts(layers, heads)
            for document_id in group:
                counts.add(document_counts(s, document_id, model_id, layers, heads, causal))
            head_stats.add(s, corpus_id, model_id, counts)
            head_stats.mark_counted(s, model_id, group)
        summary.documents += len(group)
        summary.sentences += counts.sentences
        if progress:
            progress(start + len(group), len(todo))
    return summary
