"""Head statistics over corpora: sums and counts per (corpus, model, statistic), every
head's in one array (layer-major), so a document group adds to a few rows.

Ingestion adds each group's counts in the same transaction as its documents;
documents stored before this (document_models.head_stats false) are counted by
`exbert heads --backfill`. Views give the means to SQL users (docs/sql.md).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _keys() -> list:
    return [
        sa.Column("corpus_id", sa.Integer(), sa.ForeignKey("corpora.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("model_id", sa.Integer(), sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    ]  # fmt: skip


VIEWS = """
CREATE VIEW head_statistics AS
SELECT c.name AS corpus, m.name AS model, ((u.i - 1) / m.heads)::int AS layer,
       ((u.i - 1) % m.heads)::int AS head, hs.statistic,
       u.total / nullif(hs.count, 0) AS value, hs.count
FROM head_stats hs JOIN corpora c ON c.id = hs.corpus_id JOIN models m ON m.id = hs.model_id
CROSS JOIN LATERAL unnest(hs.totals) WITH ORDINALITY AS u(total, i);

CREATE VIEW head_syntax_accuracy AS
SELECT c.name AS corpus, m.name AS model, hs.relation, hs.direction,
       ((u.i - 1) / m.heads)::int AS layer, ((u.i - 1) % m.heads)::int AS head,
       u.correct::float8 / nullif(hs.total, 0) AS accuracy, hs.total AS links,
       (SELECT max(b.correct::float8 / nullif(b.total, 0)) FROM syntax_baselines b
        WHERE b.corpus_id = hs.corpus_id AND b.model_id = hs.model_id
          AND b.relation = hs.relation AND b.direction = hs.direction) AS baseline
FROM head_syntax hs JOIN corpora c ON c.id = hs.corpus_id JOIN models m ON m.id = hs.model_id
CROSS JOIN LATERAL unnest(hs.correct) WITH ORDINALITY AS u(correct, i);
"""


def upgrade() -> None:
    op.create_table(
        "head_stats",
        *_keys(),
        sa.Column("statistic", sa.String(24), primary_key=True),
        sa.Column("totals", ARRAY(sa.Double()), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "head_syntax",
        *_keys(),
        sa.Column("relation", sa.String(32), primary_key=True),
        sa.Column("direction", sa.String(24), primary_key=True),
        sa.Column("correct", ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "syntax_baselines",
        *_keys(),
        sa.Column("relation", sa.String(32), primary_key=True),
        sa.Column("direction", sa.String(24), primary_key=True),
        sa.Column("offset", sa.SmallInteger(), primary_key=True),
        sa.Column("correct", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "head_coverage",
        *_keys(),
        sa.Column("sentences", sa.BigInteger(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
    )
    op.add_column(
        "document_models",
        sa.Column("head_stats", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.execute(VIEWS)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS head_syntax_accuracy")
    op.execute("DROP VIEW IF EXISTS head_statistics")
    op.drop_column("document_models", "head_stats")
    for table in ("head_coverage", "syntax_baselines", "head_syntax", "head_stats"):
        op.drop_table(table)
