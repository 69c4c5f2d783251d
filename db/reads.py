"""Reads of stored sentences: their tokens with words, their attention rows.

Search reads the hits' sentences here; ingestion reads a stored document's
words back to add another model without running spaCy again. Rows come back
as the shapes of exbert/shapes.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from db import attention_codec
from db.engine import driver_connection
from exbert.shapes import Token, Word

WORD_COLUMNS = (
    "w.index, w.text, w.lemma, w.pos, w.tag, w.dep, w.head_index, w.ent_type, w.ent_iob, "
    "w.is_stop, w.start_char, w.end_char"
)


@dataclass(frozen=True)
class StoredSentence:
    sentence_id: int
    text: str
    document: str  # the document's source
    tokens: list[Token]  # one model's tokens, each with its word


def _words(rows: Sequence[tuple]) -> list[Word]:
    """Words from rows of WORD_COLUMNS (one sentence's, in order), their heads' text filled in."""
    texts = {r[0]: r[1] for r in rows}
    return [Word.from_values((*r, texts.get(r[6], ""))) for r in rows]


def sentences_with_tokens(
    session: Session, model_id: int, sentence_ids: Sequence[int]
) -> dict[int, StoredSentence]:
    """The sentences with each token of one model and its word, in three queries."""
    if not sentence_ids:
        return {}
    ids = sorted(set(sentence_ids))
    # through the driver: ~2,500 plain tuples cost half of what SQLAlchemy rows did
    with driver_connection(session).cursor() as cur:
        heads = cur.execute(
            "SELECT s.id, s.text, d.source FROM sentences s JOIN documents d ON d.id = s.document_id "
            "WHERE s.id = ANY(%(ids)s)",
            {"ids": ids},
        ).fetchall()
        # tokens and words of each sentence are contiguous rows: two range scans per
        # sentence, joined here, instead of index lookups per token and per head word
        tokens = cur.execute(
            "SELECT sentence_id, position, text, is_special, start_char, end_char, word_id "
            "FROM tokens WHERE model_id = %(m)s AND sentence_id = ANY(%(ids)s) "
            "ORDER BY sentence_id, position",
            {"m": model_id, "ids": ids},
        ).fetchall()
        words = cur.execute(
            f"SELECT w.sentence_id, w.id, {WORD_COLUMNS} FROM words w "
            "WHERE w.sentence_id = ANY(%(ids)s) ORDER BY w.sentence_id, w.index",
            {"ids": ids},
        ).fetchall()
    per_sentence: dict[int, list[tuple]] = {}
    for row in words:
        per_sentence.setdefault(row[0], []).append(row)
    by_id: dict[int, Word] = {}
    for rows in per_sentence.values():
        for row, word in zip(rows, _words([r[2:] for r in rows]), strict=True):
            by_id[row[1]] = word
    out = {sid: StoredSentence(sid, stext, source, []) for sid, stext, source in heads}
    for sentence_id, position, token_text, is_special, start, end, word_id in tokens:
        word = None if word_id is None else by_id[word_id]
        out[sentence_id].tokens.append(
            Token.from_values((position, token_text, is_special, start, end, word))
        )
    return out


def document_sentences(
    session: Session, document_id: int
) -> list[tuple[int, str, list[int], list[Word]]]:
    """A stored document's sentences: (id, text, word ids, words), to add another model
    without spaCy."""
    sentences = session.execute(
        text("SELECT id, text FROM sentences WHERE document_id = :d ORDER BY index"),
        {"d": document_id},
    ).all()
    words = session.execute(
        text(
            f"SELECT w.sentence_id, w.id, {WORD_COLUMNS} FROM words w "
            "JOIN sentences s ON s.id = w.sentence_id WHERE s.document_id = :d "
            "ORDER BY w.sentence_id, w.index"
        ),
        {"d": document_id},
    ).all()
    per_sentence: dict[int, list[tuple]] = {sid: [] for sid, _ in sentences}
    for row in words:
        per_sentence[row[0]].append(tuple(row))
    return [
        (
            sid,
            stext,
            [r[1] for r in per_sentence[sid]],
            _words([r[2:] for r in per_sentence[sid]]),
        )
        for sid, stext in sentences
    ]


def attention_rows(
    session: Session,
    model_id: int,
    layer: int,
    positions: dict[int, Sequence[int]],
    heads: Sequence[int],
) -> dict[tuple[int, int], np.ndarray]:
    """Attention rows (summed over `heads`) of the given query positions:
    {(sentence, position): weights over the keys}.

    The server cuts each row out of the stored matrices (heads x T x T bytes, stored
    uncompressed, so a slice reads only its own part): 50 hits' rows are ~20 kB, their
    whole matrices ~650 kB, and reading those was a tenth of a search."""
    if not positions:
        return {}
    keys = [(sid, int(p)) for sid, ps in sorted(positions.items()) for p in ps]
    selected = [int(h) for h in heads]
    rows = session.execute(
        text(
            "SELECT a.sentence_id, q.position, a.tokens, "
            "(SELECT string_agg(substring(a.weights FROM (h * a.tokens + q.position) * a.tokens + 1 "
            "FOR a.tokens), ''::bytea ORDER BY o) FROM unnest(CAST(:heads AS int[])) "
            "WITH ORDINALITY AS s(h, o)) "
            "FROM unnest(CAST(:sentences AS bigint[]), CAST(:positions AS int[])) "
            "AS q(sentence_id, position) "
            "JOIN attentions a ON a.sentence_id = q.sentence_id "
            "WHERE a.model_id = :m AND a.layer = :l AND q.position < a.tokens"
        ),
        {
            "m": model_id,
            "l": layer,
            "heads": selected,
            "sentences": [k[0] for k in keys],
            "positions": [k[1] for k in keys],
        },
    ).all()
    out = {}
    for sentence_id, position, n_tokens, weights in rows:
        levels = np.frombuffer(weights, dtype=np.uint8).reshape(len(selected), n_tokens)
        out[(sentence_id, position)] = levels.sum(axis=0, dtype=np.float32) / attention_codec.LEVELS
    return out


def sentence_words(session: Session, sentence_ids: Sequence[int]) -> dict[int, list[Word]]:
    """Every word of these sentences, in order, heads' texts filled in."""
    rows = session.execute(
        text(
            f"SELECT w.sentence_id, {WORD_COLUMNS} FROM words w "
            "WHERE w.sentence_id = ANY(:ids) ORDER BY w.sentence_id, w.index"
        ),
        {"ids": list(sentence_ids)},
    ).all()
    per_sentence: dict[int, list[tuple]] = {}
    for row in rows:
        per_sentence.setdefault(row[0], []).append(tuple(row[1:]))
    return {sid: _words(words) for sid, words in per_sentence.items()}


def sample_sentences(
    session: Session, corpus_id: int, model_id: int, n: int
) -> list[tuple[int, str]]:
    """Up to `n` sentences of a corpus stored for a model, spread over it (a fixed sample:
    the same for the same store), as (id, text)."""
    return [
        tuple(r)
        for r in session.execute(
            text(
                "SELECT s.id, s.text FROM sentences s "
                "JOIN documents d ON d.id = s.document_id "
                "JOIN document_models dm ON dm.document_id = d.id AND dm.model_id = :m "
                "WHERE d.corpus_id = :c ORDER BY hashint8(s.id), s.id LIMIT :n"
            ),
            {"c": corpus_id, "m": model_id, "n": n},
        )
    ]


def layer_attention(
    session: Session, model_id: int, layer: int, sentence_ids: Sequence[int]
) -> dict[int, np.ndarray]:
    """One layer's stored attention of these sentences: {sentence: uint8 [heads, T, T]}."""
    rows = session.execute(
        text(
            "SELECT sentence_id, heads, tokens, weights FROM attentions "
            "WHERE model_id = :m AND layer = :l AND sentence_id = ANY(:ids)"
        ),
        {"m": model_id, "l": layer, "ids": list(sentence_ids)},
    )
    return {sid: attention_codec.as_bytes(w, h, n) for sid, h, n, w in rows}
