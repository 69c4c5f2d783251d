"""Vector search over stored tokens, combined with SQL filters on their annotations.

Exact mode scans one vector space's partition (only its own pages); approximate
mode walks its HNSW index, with pgvector's iterative scan so a filtered search
still returns k rows when k tokens qualify, and each walk checked against a sample
of the space (PROBE_ROWS). A space without an HNSW index (see db/indexes.py) is
always searched exactly, and so is a small space under a filter
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
# Each walk is checked, in the same statement, against this many rows sampled from
# random pages of the space (tsm_system_rows, migration 0008): a sampled row nearer than
# the walk's k-th answer and not among its answers is a true neighbour the walk missed.
# An HNSW graph can lose a whole dense cluster (one build of the demo's layer 0 in eleven:
# a subword's thousands of near-identical vectors, whose queries then got none of their
# true 50, at any ef_search under 1,000); a sample of 1,000 holds some of any cluster of
# a few percent of the space. A missed row makes the walk run again at WIDEST_WALK, and
# if that still misses one, the exact scan answers. Measured in docs/benchmarks.md.
PROBE_ROWS = 1000
WIDEST_WALK = 1000  # pgvector's largest hnsw.ef_search
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
    probe: bool = False  # the server has tsm_system_rows, which the walk's check reads


def locate(
    session: Session, model: str, layer: int, kind: str, corpus: str | None = None
) -> tuple[Space, int | None]:
    """The space searched, whether it has a usable index, and the corpus's id, in one
    statement (three round trips were a tenth of a small corpus's search)."""
    row = session.execute(
        text(
            f"SELECT vs.id, vs.dim, m.id, {indexes.usable_index_sql('vs.id')}, "
            "(SELECT c.id FROM corpora c WHERE c.name = :corpus), "
            f"{indexes.row_estimate_sql('vs.id')}, "
            "EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'tsm_system_rows') "
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
    space = Space(
        id=row[0],
        dim=row[1],
        indexed=bool(row[3]),
        model_id=row[2],
        rows=int(row[5]),
        probe=bool(row[6]),
    )
    return space, row[4]


def nearest(
    session: Session,
    space: Space,
    query: np.ndarray,
    k: int,
    corpus: int,
    filters: Filters = Filters(),
    exact: bool = False,
    probe_rows: int | None = None,
) -> tuple[list[Hit], bool]:
    """The k stored tokens nearest to `query` (cosine) in one space, among those the
    filters let through, and whether an exact scan answered. `probe_rows`: the sample a
    walk is checked against (default PROBE_ROWS; 0: unchecked, as the benchmark compares).

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
    missed: list[tuple[int, float]] = []
    use_index = (
        space.indexed and not exact and not (filters.active and space.rows < FILTERED_WALK_MIN_ROWS)
    )
    if use_index:
        # The session has the walk's settings (db/engine.HNSW_SESSION); what differs
        # for this search is set for its transaction. The planner prices a filtered walk
        # too high and scans the partition instead (seconds at 1M rows; the walk takes
        # milliseconds): no seqscan then.
        ef_search = min(WIDEST_WALK, max(2 * k, EF_SEARCH))
        if filters.active or ef_search != EF_SEARCH:
            session.execute(
                text(
                    "SELECT set_config('hnsw.ef_search', :ef, true), "
                    "set_config('enable_seqscan', :seqscan, true)"
                ),
                {"ef": str(ef_search), "seqscan": "off" if filters.active else "on"},
            )
        probe = PROBE_ROWS if probe_rows is None else probe_rows
        walk = _walk_sql(partition, dim, condition, probe if space.probe else 0)
        rows = session.execute(text(walk), params).all()
        missed = _missed(rows)
        if missed and ef_search < WIDEST_WALK:
            session.execute(
                text("SELECT set_config('hnsw.ef_search', :ef, true)"), {"ef": str(WIDEST_WALK)}
            )
            # what the first walk found is known too: the wider one may lose some of it
            known = missed + [(int(r[0]), float(r[3])) for r in rows]
            rows = session.execute(text(_walk_sql(partition, dim, condition, 0)), params).all()
            missed = _missed(rows, known)
        if filters.active:
            session.execute(text("SET LOCAL enable_seqscan = on"))
    # an index walk that ran dry, or missed a sampled neighbour, falls back to the exact answer
    if not use_index or len(rows) < k or missed:
        sql = (
            f"SELECT token_id, sentence_id, position, embedding <=> :q AS distance "
            f"FROM {partition} v WHERE {condition} ORDER BY distance LIMIT :k"
        )
        rows = session.execute(text(sql), params).all()
        use_index = False
    return [Hit(int(r[0]), int(r[1]), int(r[2]), float(r[3])) for r in rows], not use_index


def _walk_sql(partition: str, dim: int, condition: str, probe_rows: int) -> str:
    """The index walk, and with `probe_rows` the sampled rows it missed (their token ids
    and distances, as two arrays on every row)."""
    distance = f"(v.embedding::halfvec({dim})) <=> (CAST(:q AS halfvec({dim})))"
    # relaxed order: the outer sort puts the out-of-order rows right. A plain subquery
    # does not do it: the planner trusts the index's order and drops the sort (k=300
    # answered out of order); a materialised CTE and `+ 0` keep it (pgvector's advice)
    found = (
        f"found AS MATERIALIZED (SELECT v.token_id, v.sentence_id, v.position, "
        f"{distance} AS distance FROM {partition} v WHERE {condition} "
        "ORDER BY distance LIMIT :k)"
    )
    if not probe_rows:
        return f"WITH {found} SELECT *, NULL, NULL FROM found ORDER BY distance + 0"
    return (
        f"WITH {found}, sampled AS MATERIALIZED (SELECT v.token_id, {distance} AS distance "
        f"FROM {partition} v TABLESAMPLE system_rows({int(probe_rows)}) WHERE {condition}), "
        "missed AS (SELECT token_id, distance FROM sampled WHERE distance < "
        "(SELECT max(distance) FROM found) AND token_id NOT IN (SELECT token_id FROM found)) "
        "SELECT found.*, (SELECT array_agg(token_id) FROM missed), "
        "(SELECT array_agg(distance) FROM missed) FROM found ORDER BY distance + 0"
    )


def _missed(rows: list, known: list[tuple[int, float]] | None = None) -> list[tuple[int, float]]:
    """The sampled rows nearer than the walk's k-th answer and not among its answers: from
    the walk's own statement, or `known` rows (an earlier walk's misses and answers)
    checked against a second walk's answers."""
    if not rows:
        return []
    if known is None:
        ids, distances = rows[0][4], rows[0][5]
        return list(zip(ids, distances, strict=True)) if ids else []
    found, kth = {int(r[0]) for r in rows}, float(rows[-1][3])
    return [(t, d) for t, d in known if d < kth and t not in found]
