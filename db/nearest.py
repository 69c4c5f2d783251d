"""Vector search over stored tokens, combined with SQL filters on their annotations.

Exact mode scans one vector space's partition (only its own pages); approximate
mode walks its HNSW index, with pgvector's iterative scan so a filtered search
still returns k rows when k tokens qualify. A space without an HNSW index (see
db/indexes.py) is always searched exactly, and so is a small space under a filter
(FILTERED_WALK_MIN_ROWS). The settings below are measured in
docs/benchmarks.md (search).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pgvector import HalfVector
from sqlalchemy import text
from sqlalchemy.orm import Session

from db import indexes, labels
from db.engine import HNSW_SESSION

# Candidates the index walk keeps (hnsw.ef_search; 2k when k is larger), as every
# session of db/engine.py starts with.
EF_SEARCH = int(HNSW_SESSION["hnsw.ef_search"])
# A filtered search walks the index only in a space at least this big. Below it the
# exact scan is as fast at the median and far better at the tail and in recall: on the
# demo's 95k real vectors a POS-filtered walk answered in 50 / 230-400 ms (p50 / p95)
# with recall@50 0.74-0.94 (a part of speech clusters, so its walk wanders), the scan in
# 51-57 / 66-84 ms with recall 1. The scan grows with the space (~0.5 us a row): ~100 ms
# here, where the walk (end to end 38 / 55 ms at 1M synthetic rows) is the better bet
# (docs/benchmarks.md).
FILTERED_WALK_MIN_ROWS = 200_000
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
    exclude_sentence: str | None = None  # the query's own sentence, by text

    @property
    def active(self) -> bool:
        return bool(self.pos or self.tag or self.dep or self.ent_type)


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
    rows: int = 0  # as the server's statistics know it (indexes.row_estimate_sql)


def locate(
    session: Session, model: str, layer: int, kind: str, corpus: str | None = None
) -> tuple[Space, int | None]:
    """The space searched, whether it has a usable index, and the corpus's id, in one
    statement (three round trips were a tenth of a small corpus's search)."""
    row = session.execute(
        text(
            f"SELECT vs.id, vs.dim, m.id, {indexes.usable_index_sql('vs.id')}, "
            "(SELECT c.id FROM corpora c WHERE c.name = :corpus), "
            f"{indexes.row_estimate_sql('vs.id')} "
            "FROM models m JOIN vector_spaces vs ON vs.model_id = m.id "
            "WHERE m.name = :model AND vs.layer = :layer AND vs.kind = :kind"
        ),
        {"model": model, "layer": layer, "kind": kind, "corpus": corpus},
    ).first()
    if row is None:
        raise SearchError(
            f"No stored {kind} vectors for layer {layer} of {model!r}; ingest a corpus with it first."
        )
    if corpus is not None and row[4] is None:
        raise SearchError(f"No corpus named {corpus[:100]!r}.")
    space = Space(id=row[0], dim=row[1], indexed=bool(row[3]), model_id=row[2], rows=int(row[5]))
    return space, row[4]


def nearest(
    session: Session,
    space: Space,
    query: np.ndarray,
    k: int,
    corpus: int,
    filters: Filters = Filters(),
    exact: bool = False,
) -> tuple[list[Hit], bool]:
    """The k stored tokens nearest to `query` (cosine) in one space, among those the
    filters let through, and whether an exact scan answered.

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
            params[name] = labels.codes_of(session, name, values)
    if filters.exclude_sentence is not None:
        # evaluated once, before the scan or walk (an init plan), in the same round trip
        where.append(
            "v.sentence_id <> ALL(ARRAY(SELECT s.id FROM sentences s WHERE s.text = :excluded))"
        )
        params["excluded"] = filters.exclude_sentence
    dim, partition = int(space.dim), indexes.partition_name(space.id)
    condition = " AND ".join(where)
    rows: list = []
    use_index = (
        space.indexed and not exact and not (filters.active and space.rows < FILTERED_WALK_MIN_ROWS)
    )
    if use_index:
        # The session has the walk's settings (db/engine.HNSW_SESSION); what differs
        # for this search is set for its transaction. The planner prices a filtered walk
        # too high and scans the partition instead (seconds at 1M rows; the walk takes
        # milliseconds): no seqscan then.
        ef_search = min(1000, max(2 * k, EF_SEARCH))
        if filters.active or ef_search != EF_SEARCH:
            session.execute(
                text(
                    "SELECT set_config('hnsw.ef_search', :ef, true), "
                    "set_config('enable_seqscan', :seqscan, true)"
                ),
                {"ef": str(ef_search), "seqscan": "off" if filters.active else "on"},
            )
        distance = f"(v.embedding::halfvec({dim})) <=> (CAST(:q AS halfvec({dim})))"
        # relaxed order: the outer sort puts the out-of-order rows right. A plain subquery
        # does not do it: the planner trusts the index's order and drops the sort (k=300
        # answered out of order); a materialised CTE and `+ 0` keep it (pgvector's advice)
        sql = (
            f"WITH found AS MATERIALIZED (SELECT v.token_id, v.sentence_id, v.position, "
            f"{distance} AS distance FROM {partition} v WHERE {condition} "
            "ORDER BY distance LIMIT :k) SELECT * FROM found ORDER BY distance + 0"
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
