"""The sampling method a search's check of its index walk reads (db/nearest.py).

`tsm_system_rows` is in PostgreSQL's contrib, trusted (a role that may create objects
in the database may create it) and offered by the managed services that offer
pgvector; a server without it, or a role without that right, keeps working: its
searches walk unchecked.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # optional: a server without it, or a role that may not create it, walks unchecked
    op.execute(
        """
        DO $$ BEGIN
          IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'tsm_system_rows') THEN
            CREATE EXTENSION IF NOT EXISTS tsm_system_rows;
          END IF;
        EXCEPTION WHEN insufficient_privilege THEN
          RAISE NOTICE 'tsm_system_rows not created (%): index walks go unchecked', SQLERRM;
        END $$
        """
    )


def downgrade() -> None:
    op.execute("DROP EXTENSION IF EXISTS tsm_system_rows")
