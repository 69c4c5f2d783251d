"""Vector spaces' partitions and their HNSW indexes: names, DDL, sizing, when to build.

A vector space is one (model, layer, kind); its rows live in one partition of
`vectors`, searched exactly by a scan or approximately through an HNSW index on
the dimension-cast expression. Why and when an index pays is measured in
docs/benchmarks.md (search).

Which spaces get an index is a plan (EXBERT_INDEX, `IndexPlan`): by default a
space is indexed once someone searches it and it holds HNSW_MIN_ROWS rows
(`build_concurrently`, beside the searches); a store can instead index every space
or some of them at the end of each ingestion run, or none. `exbert index` builds and
drops indexes by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from db.engine import libpq_url
from db.schema import Model, VectorSpace

# From this many rows a space's index answers faster than FAISS's exact scan (exBERT's
# engine) and than our own (docs/benchmarks.md, search); below it a scan is quick anyway.
HNSW_MIN_ROWS = 10_000
# The graph's build effort. At 64 (pgvector's default) about 1 search in 70 on the demo's
# layer 0 lost most of its true matches (a token whose near-identical neighbours the
# graph barely links, e.g. 'while', 'about'), recall@50 0.980; at 128, 1 in 600 and
# 0.996, for a build 1.6x as long (demo layer: 17 -> 27 s) and the same index size.
HNSW_BUILD = "m = 16, ef_construction = 128"
KINDS = ("hidden", "context")


@dataclass(frozen=True)
class IndexPlan:
    """Which spaces get an HNSW index, and when.

    `when`: "searched" (a space's first search starts its build), "ingest" (built at
    the end of each ingestion run) or "never" (only by `exbert index`); `spaces`: the
    (layer, kind) patterns it applies to, None in a pattern matching any.
    """

    when: str = "searched"
    spaces: tuple[tuple[int | None, str | None], ...] = ((None, None),)

    def covers(self, layer: int, kind: str) -> bool:
        return self.when != "never" and any(
            (pl is None or pl == layer) and (pk is None or pk == kind) for pl, pk in self.spaces
        )


SEARCHED = IndexPlan()  # the default
AT_INGESTION = IndexPlan("ingest")  # every space, at the end of each ingestion run


def parse_plan(value: str) -> IndexPlan:
    """EXBERT_INDEX: `searched` (the default), `all`, `none`, or spaces to index at
    ingestion: comma-separated `hidden`, `context`, a layer (`3`) or both (`3:hidden`)."""
    value = value.strip().lower()
    if value in ("", "searched"):
        return IndexPlan()
    if value == "all":
        return IndexPlan("ingest")
    if value == "none":
        return IndexPlan("never", ())
    spaces = []
    for part in value.split(","):
        m = re.fullmatch(r"\s*(?:(\d{1,3})(?::(hidden|context))?|(hidden|context))\s*", part)
        if not m:
            raise ValueError(
                f"EXBERT_INDEX={value[:80]!r}: use searched, all, none, or spaces such as "
                "'hidden', '3', '3:context' separated by commas."
            )
        layer = int(m.group(1)) if m.group(1) is not None else None
        spaces.append((layer, m.group(2) or m.group(3)))
    return IndexPlan("ingest", tuple(spaces))


def partition_name(space_id: int) -> str:
    return f"vectors_s{int(space_id)}"


def index_name(space_id: int) -> str:
    return f"vectors_s{int(space_id)}_hnsw"


def usable_index_sql(space_id_sql: str) -> str:
    """Whether the space whose id `space_id_sql` gives has a usable index, as a SQL
    expression (a concurrent build still running, or one that failed, leaves an invalid
    index: not usable). `has_index` asks it alone; a search's lookup inside its own
    statement."""
    name = f"format('vectors_s%s_hnsw', {space_id_sql})"  # index_name, in SQL
    return (
        "coalesce((SELECT i.indisvalid FROM pg_index i "
        f"WHERE i.indexrelid = to_regclass({name})), false)"
    )


def row_estimate_sql(space_id_sql: str) -> str:
    """The partition's row count as the server's statistics know it (an index build
    sets it; autovacuum's analyse keeps it up), as a SQL expression: 0 when unknown.
    A search's look-up reads it inside its own statement."""
    name = f"format('vectors_s%s', {space_id_sql})"  # partition_name, in SQL
    return (
        "coalesce((SELECT greatest(c.reltuples, 0) FROM pg_class c "
        f"WHERE c.oid = to_regclass({name})), 0)"
    )


def create_partition(session: Session, space_id: int) -> None:
    session.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS {partition_name(space_id)} "
            f"PARTITION OF vectors FOR VALUES IN ({int(space_id)})"
        )
    )


def has_index(session: Session, space_id: int) -> bool:
    return bool(session.scalar(text(f"SELECT {usable_index_sql(':sid')}"), {"sid": int(space_id)}))


def estimated_rows(session: Session, space_id: int, enough: int | None = None) -> int:
    """The partition's row count as the server's statistics know it: cheap, and exact
    enough to decide on an index (live tuples counted as rows are written, the planner's
    estimate after an analyse). With neither (a restored or copied database), counted up
    to `enough` (default HNSW_MIN_ROWS), which is all the decision needs."""
    known = session.execute(
        text(
            "SELECT c.reltuples, coalesce(s.n_live_tup, 0) FROM pg_class c "
            "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = to_regclass(:n)"
        ),
        {"n": partition_name(space_id)},
    ).first()
    if known is None:
        return 0
    if known[0] > 0 or known[1] > 0:
        return int(max(known[0], known[1]))
    enough = HNSW_MIN_ROWS if enough is None else enough
    return session.scalar(
        text(f"SELECT count(*) FROM (SELECT FROM {partition_name(space_id)} LIMIT :n) AS t"),
        {"n": max(enough, 1)},
    )


# The most memory a build asks for unless told otherwise: builds start by themselves
# (a space's first search, the end of an ingestion run) beside a server's other work.
INDEX_MEMORY_MB = 4096


def memory_needed_mb(rows: int, dim: int) -> int:
    """What building an index of `rows` vectors in memory takes (pgvector's graph:
    the halfvec and ~400 bytes of neighbour lists an element, and a margin)."""
    return int(rows * (2 * dim + 400) * 1.25) // 2**20 + 64


def index_memory(rows: int, dim: int, cap_mb: int = INDEX_MEMORY_MB) -> str:
    """maintenance_work_mem to build an HNSW index in memory, up to `cap_mb`.

    Once the graph outgrows it, pgvector goes on inserting on disk, many times
    slower (docs/benchmarks.md, search).
    """
    return f"{min(max(memory_needed_mb(rows, dim), 64), max(int(cap_mb), 64))}MB"


def build_index(
    session: Session,
    space_id: int,
    dim: int,
    rows: int | None = None,
    memory_mb: int = INDEX_MEMORY_MB,
) -> None:
    """The HNSW index of one vector space (cosine, on the dimension-cast expression).

    Over the halfvec values themselves: an index over binary-quantised vectors
    was smaller but missed too many of the true nearest (docs/benchmarks.md, search).
    """
    if rows is None:
        rows = session.scalar(text(f"SELECT count(*) FROM {partition_name(space_id)}"))
    memory = index_memory(rows, dim, memory_mb)
    session.execute(text(f"SET LOCAL maintenance_work_mem = '{memory}'"))
    session.execute(text(_create_index(space_id, dim)))


def _create_index(space_id: int, dim: int, concurrently: bool = False) -> str:
    return (
        f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}IF NOT EXISTS "
        f"{index_name(space_id)} ON {partition_name(space_id)} "
        f"USING hnsw ((embedding::halfvec({int(dim)})) halfvec_cosine_ops) "
        f"WITH ({HNSW_BUILD})"
    )


def spaces_to_index(
    session: Session,
    model_id: int,
    plan: IndexPlan,
    min_rows: int | None = None,
) -> list[tuple[int, int, int]]:
    """(space id, dim, rows) of each space of a model that the plan covers, that has no
    index yet and holds at least `min_rows` rows (default HNSW_MIN_ROWS)."""
    min_rows = HNSW_MIN_ROWS if min_rows is None else min_rows
    out = []
    spaces = session.execute(
        select(VectorSpace.id, VectorSpace.dim, VectorSpace.layer, VectorSpace.kind).where(
            VectorSpace.model_id == model_id
        )
    ).all()
    for space_id, dim, layer, kind in spaces:
        if not plan.covers(layer, kind) or has_index(session, space_id):
            continue
        rows = session.scalar(text(f"SELECT count(*) FROM {partition_name(space_id)}"))
        if rows >= min_rows:
            out.append((space_id, dim, rows))
    return out


def ensure_indexes(
    session: Session,
    model_id: int,
    min_rows: int | None = None,
    plan: IndexPlan = AT_INGESTION,
) -> list[int]:
    """Build the HNSW index of every space of a model that the plan covers and that has
    grown past `min_rows` (at the end of an ingestion run: one bulk build, not upkeep row
    by row)."""
    built = []
    for space_id, dim, rows in spaces_to_index(session, model_id, plan, min_rows):
        build_index(session, space_id, dim, rows)
        built.append(space_id)
    return built


@dataclass(frozen=True)
class SpaceIndex:
    """One space as `exbert index` lists it."""

    model: str
    layer: int
    kind: str
    space_id: int
    dim: int
    rows: int
    indexed: bool
    index_bytes: int
    table_bytes: int


def list_spaces(session: Session) -> list[SpaceIndex]:
    out = []
    for sid, model, layer, kind, dim in session.execute(
        select(VectorSpace.id, Model.name, VectorSpace.layer, VectorSpace.kind, VectorSpace.dim)
        .join(Model, Model.id == VectorSpace.model_id)
        .order_by(Model.name, VectorSpace.layer, VectorSpace.kind)
    ):
        indexed = has_index(session, sid)
        index_bytes = (
            session.scalar(text("SELECT pg_relation_size(to_regclass(:n))"), {"n": index_name(sid)})
            if indexed
            else 0
        )
        table_bytes = session.scalar(
            text("SELECT coalesce(pg_table_size(to_regclass(:n)), 0)"), {"n": partition_name(sid)}
        )
        rows = estimated_rows(session, sid, enough=2**62)  # counted only without statistics
        out.append(
            SpaceIndex(model, layer, kind, sid, dim, rows, indexed, index_bytes or 0, table_bytes)
        )
    return out


def drop_index(session: Session, space_id: int) -> bool:
    """Drop a space's index (searches then scan exactly); whether there was one."""
    existed = session.scalar(
        text("SELECT to_regclass(:n) IS NOT NULL"), {"n": index_name(space_id)}
    )
    session.execute(text(f"DROP INDEX IF EXISTS {index_name(space_id)}"))
    return bool(existed)


def build_concurrently(url: str, space_id: int, dim: int, memory_mb: int = INDEX_MEMORY_MB) -> bool:
    """Build a space's index without blocking its writers or readers (CREATE INDEX
    CONCURRENTLY, on a connection of its own, no statement timeout), unless another
    process is building it: an advisory lock per space decides. A build that failed
    before leaves an invalid index, dropped first. Whether this call built it."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        key = 0x6578_0000 + int(space_id)  # "ex" + the space
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
            return False
        try:
            valid = conn.execute(
                "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
                (index_name(space_id),),
            ).fetchone()
            if valid is not None and valid[0]:
                return False
            if valid is not None:
                conn.execute(f"DROP INDEX IF EXISTS {index_name(space_id)}")
            rows = conn.execute(f"SELECT count(*) FROM {partition_name(space_id)}").fetchone()[0]
            conn.execute("SET statement_timeout = 0")
            conn.execute(f"SET maintenance_work_mem = '{index_memory(rows, dim, memory_mb)}'")
            conn.execute(_create_index(space_id, dim, concurrently=True))
            return True
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
