"""Attention weights stored uncompressed (STORAGE EXTERNAL).

pglz spent ~6 s of server time per 1,000 sentences compressing uint8
attention (half of all database work during ingestion) to save ~30% of its
size; uncompressed values are also read in slices by get_byte/substring
without decompressing the whole value. Measured in docs/benchmarks.md.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE attentions ALTER COLUMN weights SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.execute("ALTER TABLE attentions ALTER COLUMN weights SET STORAGE EXTENDED")
