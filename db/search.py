"""Vector search over stored tokens, combined with SQL filters on their annotations.

Exact mode scans one vector space's partition (only its own pages); approximate
mode walks its HNSW index, with pgvector's iterative scan so a filtered search
still returns k rows when k tokens qualify. A space without an HNSW index (fewer
than `store.HNSW_MIN_ROWS` rows) is always searched exactly: at that size the
scan is fast and exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pgvector import HalfVector
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from db import store
from db.schema import Corpus, Label, Model, Sentence, VectorSpace

# Candidates the index walk keeps (hnsw.ef_search, at least 2k): at 1M rows
# 200 found 94% of the true 50 nearest, 400 found 97-98% in 4-9 ms.
EF_SEARCH = 400
# A filtered index walk gives up after visiting this many tuples (then the exact scan answers).
MAX_SCAN_TUPLES = 200_000
# Search filter -> the vector column holding its label code (migration 0003).
FILTER_COLUMNS = {"pos": "pos_id", "tag": "tag_id", "dep": "dep_id", "ent_type": "ent_id"}


class SearchError(ValueError):
    """A search that cannot run as asked; the message says why."""


@dataclass(frozen=True)
class Filters:
    pos: tuple[str, ...] = ()
    tag: tuple[str, ...] = ()
    dep: tuple[str, ...] = ()
    ent_type: tuple[str, ...] = ()
    documents: tuple[int, ...] = ()
    exclude_sentence: str | None = None  # the query's own sentence, by text

    @property
    def active(self) -> bool:
        return bool(self.pos or self.tag or self.dep or self.ent_type or self.documents)


@dataclass(frozen=True)
class Hit:
    token_id: int
    sentence_id: int
    position: int
    distance: float


@dataclass
class Space:
    id: int
    dim: int
    indexed: bool
    model_id: int


def find_space(session: Session, model: str, layer: int, kind: str) -> Space:
    row = session.execute(
        select(VectorSpace.id, VectorSpace.dim, Model.id)
        .join(Model, Model.id == VectorSpace.model_id)
        .where(Model.name == model, VectorSpace.layer == layer, VectorSpace.kind == kind)
    ).first()
    if row is None:
        raise SearchError(
            f"No stored {kind} vectors for layer {layer} of {model!r}; ingest a corpus with it first."
        )
    indexed = bool(
        session.scalar(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": store.index_name(row[0])})
    )
    return Space(id=row[0], dim=row[1], indexed=indexed, model_id=row[2])


def corpus_id(session: Session, name: str) -> int:
    cid = session.scalar(select(Corpus.id).where(Corpus.name == name))
    if cid is None:
        raise SearchError(f"No corpus named {name[:100]!r}.")
    return cid


def _codes(session: Session, kind: str, values: Sequence[str]) -> list[int]:
    return list(
        session.scalars(select(Label.id).where(Label.kind == kind, Label.value.in_(list(values))))
    )


def nearest(
    session: Session,
    space: Space,
    query: np.ndarray,
    k: int,
    corpus: int,
    filters: Filters = Filters(),
    exact: bool = False,
) -> tuple[list[Hit], bool]:
    """The k stored tokens nearest to `query` (cosine) in one space, among those the filters let through,
    and whether an exact scan answered.

    Special tokens never match (they carry no annotation). Filters read only the
    vector rows (migration 0003). All values are bound parameters; only validated
    integers (space id, dimension, counts) are formatted in.
    """
    if query.shape != (space.dim,):
        raise SearchError(f"query has {query.shape} values, the space holds {space.dim}")
    where = ["v.corpus_id = :corpus", "v.pos_id IS NOT NULL"]
    params: dict = {"corpus": corpus, "q": HalfVector(query.astype(np.float32)), "k": k}
    for name, column in FILTER_COLUMNS.items():
        values = getattr(filters, name)
        if values:
            where.append(f"v.{column} = ANY(:{name})")
            params[name] = _codes(session, name, values)
    if filters.documents:
        where.append("v.document_id = ANY(:documents)")
        params["documents"] = list(filters.documents)
    if filters.exclude_sentence is not None:
        excluded = list(
            session.scalars(select(Sentence.id).where(Sentence.text == filters.exclude_sentence))
        )
        if excluded:
            where.append("v.sentence_id <> ALL(:excluded)")
            params["excluded"] = excluded
    dim, partition = int(space.dim), store.partition_name(space.id)
    condition = " AND ".join(where)
    rows: list = []
    use_index = space.indexed and not exact
    if use_index:
        session.execute(text(f"SET LOCAL hnsw.ef_search = {min(1000, max(2 * k, EF_SEARCH))}"))
        session.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
        session.execute(text(f"SET LOCAL hnsw.max_scan_tuples = {MAX_SCAN_TUPLES}"))
        if filters.active:
            # The planner prices a filtered walk too high and scans the partition
            # instead (seconds at 1M rows); the walk takes milliseconds.
            session.execute(text("SET LOCAL enable_seqscan = off"))
        distance = f"(v.embedding::halfvec({dim})) <=> (CAST(:q AS halfvec({dim})))"
        # relaxed order: the outer sort puts the few out-of-order rows right
        sql = (
            f"SELECT * FROM (SELECT v.token_id, v.sentence_id, v.position, {distance} AS distance "
            f"FROM {partition} v WHERE {condition} ORDER BY distance LIMIT :k) AS found "
            "ORDER BY distance"
        )
        rows = session.execute(text(sql), params).all()
        if filters.active:
            session.execute(text("SET LOCAL enable_seqscan = on"))
    if not use_index or len(rows) < k:  # an index walk that ran dry falls back to the exact answer
        sql = (
            f"SELECT token_id, sentence_id, position, embedding <=> :q AS distance "
            f"FROM {partition} v WHERE {condition} ORDER BY distance LIMIT :k"
        )
        rows = session.execute(text(sql), params).all()
        use_index = False
    return [Hit(int(r[0]), int(r[1]), int(r[2]), float(r[3])) for r in rows], not use_index


@dataclass(frozen=True)
class SentenceTokens:
    sentence_id: int
    text: str
    document: str
    tokens: list[dict]  # position, text, is_special, word annotation or None


def sentences_with_tokens(
    session: Session, model_id: int, sentence_ids: Sequence[int]
) -> dict[int, SentenceTokens]:
    """The sentences of the hits with each token and its word's annotation, in three queries."""
    if not sentence_ids:
        return {}
    ids = sorted(set(sentence_ids))
    # through the driver: ~2,500 plain tuples cost half of what SQLAlchemy rows did
    with store.driver_connection(session).cursor() as cur:
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
            "SELECT id, sentence_id, index, text, lemma, pos, tag, dep, ent_type, ent_iob, head_index "
            "FROM words WHERE sentence_id = ANY(%(ids)s)",
            {"ids": ids},
        ).fetchall()
    by_id = {w[0]: w for w in words}
    by_position = {(w[1], w[2]): w for w in words}
    out = {sid: SentenceTokens(sid, stext, source, []) for sid, stext, source in heads}
    for sentence_id, position, token_text, is_special, start, end, word_id in tokens:
        word = None
        if word_id is not None:
            w = by_id[word_id]
            head = by_position.get((sentence_id, w[10]))
            word = {
                "text": w[3],
                "lemma": w[4],
                "pos": w[5],
                "tag": w[6],
                "dep": w[7],
                "ent_type": w[8],
                "ent_iob": w[9],
                "index": w[2],
                "head": None if head is None else head[3],
            }
        out[sentence_id].tokens.append(
            {
                "position": position,
                "text": token_text,
                "is_special": is_special,
                "start": start,
                "end": end,
                "word": word,
            }
        )
    return out


def attention_rows(
    session: Session,
    model_id: int,
    layer: int,
    positions: dict[int, Sequence[int]],
    heads: Sequence[int],
) -> dict[tuple[int, int], np.ndarray]:
    """Attention rows (summed over `heads`) of the given query positions: {(sentence, position): [keys]}."""
    if not positions:
        return {}
    rows = session.execute(
        text(
            "SELECT sentence_id, heads, tokens, weights FROM attentions "
            "WHERE model_id = :m AND layer = :l AND sentence_id = ANY(:ids)"
        ),
        {"m": model_id, "l": layer, "ids": sorted(positions)},
    ).all()
    out = {}
    selected = list(heads)
    for sentence_id, n_heads, n_tokens, weights in rows:
        raw = store.attention_bytes(weights, n_heads, n_tokens)
        for pos in positions[sentence_id]:  # the hits' rows only, not whole matrices
            summed = raw[selected, pos].sum(axis=0, dtype=np.float32)
            out[(sentence_id, pos)] = summed / store.ATTENTION_LEVELS
    return out


def known_labels(session: Session) -> dict[str, set[str]]:
    """The annotation labels present in the store, to tell an unknown label from a rare one."""
    out: dict[str, set[str]] = {name: set() for name in FILTER_COLUMNS}
    for kind, value in session.execute(select(Label.kind, Label.value)):
        out[kind].add(value)
    return out
