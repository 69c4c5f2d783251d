"""Build the HNSW indexes that 0003 dropped, for every space past 100,000 rows.

In a transaction of its own (migrations/env.py): inside 0003's, the row
versions its update replaced would be indexed too, doubling the graph.
The graph is built in memory (maintenance_work_mem sized to it): once it
outgrows that, pgvector inserts on disk, many times slower.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MIN_ROWS = 100_000  # db.store.HNSW_MIN_ROWS when this was written


def upgrade() -> None:
    bind = op.get_bind()
    spaces = bind.execute(
        sa.text(
            "SELECT id, dim FROM vector_spaces "
            "WHERE to_regclass('vectors_s' || id || '_hnsw') IS NULL "
            "AND to_regclass('vectors_s' || id) IS NOT NULL"
        )
    ).all()
    for space, dim in spaces:
        rows = bind.scalar(sa.text(f"SELECT count(*) FROM vectors_s{int(space)}"))
        if rows < MIN_ROWS:
            continue
        memory = min(max(int(rows * (2 * dim + 400) * 1.25) // 2**20 + 64, 64), 4096)
        op.execute(f"SET LOCAL maintenance_work_mem = '{memory}MB'")
        op.execute(
            f"CREATE INDEX vectors_s{int(space)}_hnsw ON vectors_s{int(space)} "
            f"USING hnsw ((embedding::halfvec({int(dim)})) halfvec_cosine_ops) "
            "WITH (m = 16, ef_construction = 64)"
        )


def downgrade() -> None:
    pass  # the indexes are what revision 0003 expects as well
