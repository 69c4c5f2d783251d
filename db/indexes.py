"""Vector spaces' partitions and their HNSW indexes: names, DDL, sizing, when to build.

A vector space is one (model, layer, kind); its rows live in one partition of
`vectors`, searched exactly by a scan or approximately through an HNSW index on
the dimension-cast expression. Why and when an index pays is measured in
docs/benchmarks.md (search).
"""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from db.schema import VectorSpace

# Below this many rows a space is searched by an exact scan and gets no index
# (docs/benchmarks.md: below it the scan is fast, and index upkeep costs more).
HNSW_MIN_ROWS = 100_000


def partition_name(space_id: int) -> str:
    return f"vectors_s{int(space_id)}"


def index_name(space_id: int) -> str:
    return f"vectors_s{int(space_id)}_hnsw"


def create_partition(session: Session, space_id: int) -> None:
    session.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS {partition_name(space_id)} "
            f"PARTITION OF vectors FOR VALUES IN ({int(space_id)})"
        )
    )


def has_index(session: Session, space_id: int) -> bool:
    return bool(
        session.scalar(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": index_name(space_id)})
    )


def index_memory(rows: int, dim: int) -> str:
    """maintenance_work_mem to build an HNSW index in memory.

    Once the graph outgrows it, pgvector goes on inserting on disk, many times
    slower (docs/benchmarks.md, search).
    """
    need = int(rows * (2 * dim + 400) * 1.25) // 2**20 + 64
    return f"{min(max(need, 64), 4096)}MB"


def build_index(session: Session, space_id: int, dim: int, rows: int | None = None) -> None:
    """The HNSW index of one vector space (cosine, on the dimension-cast expression).

    Over the halfvec values themselves: an index over binary-quantised vectors
    was smaller but missed too many of the true nearest (docs/benchmarks.md, search).
    """
    if rows is None:
        rows = session.scalar(text(f"SELECT count(*) FROM {partition_name(space_id)}"))
    session.execute(text(f"SET LOCAL maintenance_work_mem = '{index_memory(rows, dim)}'"))
    session.execute(
        text(
            f"CREATE INDEX IF NOT EXISTS {index_name(space_id)} ON {partition_name(space_id)} "
            f"USING hnsw ((embedding::halfvec({int(dim)})) halfvec_cosine_ops) "
            "WITH (m = 16, ef_construction = 64)"
        )
    )


def ensure_indexes(session: Session, model_id: int, min_rows: int = HNSW_MIN_ROWS) -> list[int]:
    """Build the HNSW index of every space of a model that has grown past `min_rows`."""
    built = []
    spaces = session.execute(
        select(VectorSpace.id, VectorSpace.dim).where(VectorSpace.model_id == model_id)
    ).all()
    for space_id, dim in spaces:
        if has_index(session, space_id):
            continue
        rows = session.scalar(text(f"SELECT count(*) FROM {partition_name(space_id)}"))
        if rows < min_rows:
            continue
        build_index(session, space_id, dim, rows)
        built.append(space_id)
    return built
