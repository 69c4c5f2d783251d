"""Ingestion jobs in the store: jobs, their tasks, and a progress view.

Workers on any machine claim tasks with FOR UPDATE SKIP LOCKED under a lease
(ingest/worker.py); `job_progress` gives each job's state and throughput to SQL
users and to the Corpora page alike.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

VIEW = """
CREATE VIEW job_progress AS
SELECT j.id, j.corpus, j.model, j.layers, j.origin, j.created_at, j.cancelled_at,
       CASE
         WHEN j.cancelled_at IS NOT NULL THEN 'cancelled'
         WHEN count(t.id) FILTER (WHERE t.status IN ('queued', 'running')) = 0 THEN
           CASE WHEN count(t.id) FILTER (WHERE t.status = 'failed') > 0 THEN 'failed' ELSE 'done' END
         WHEN count(t.id) FILTER (WHERE t.status <> 'queued') > 0 THEN 'running'
         ELSE 'queued'
       END AS status,
       j.documents,
       coalesce(sum(t.documents_added + t.documents_skipped), 0)::bigint AS documents_done,
       coalesce(sum(t.documents_added), 0)::bigint AS documents_added,
       coalesce(sum(t.n_documents) FILTER (WHERE t.status = 'failed'), 0)::bigint AS documents_failed,
       coalesce(sum(jsonb_array_length(t.rejected)), 0)::bigint AS documents_rejected,
       coalesce(sum(t.sentences), 0)::bigint AS sentences,
       coalesce(sum(t.tokens), 0)::bigint AS tokens,
       min(t.started_at) AS started_at,
       CASE WHEN count(t.id) FILTER (WHERE t.status IN ('queued', 'running')) = 0
            THEN max(t.finished_at) END AS finished_at,
       coalesce(sum(t.tokens), 0) / greatest(extract(epoch FROM
           coalesce(CASE WHEN count(t.id) FILTER (WHERE t.status IN ('queued', 'running')) = 0
                         THEN max(t.finished_at) END, now()) - min(t.started_at)), 0.001)
           AS tokens_per_second,
       count(t.id) FILTER (WHERE t.status = 'running') AS tasks_running,
       count(t.id) FILTER (WHERE t.status = 'failed') AS tasks_failed,
       string_agg(DISTINCT t.error, '; ') FILTER (WHERE t.status = 'failed') AS errors,
       string_agg(DISTINCT t.worker, ', ') FILTER (WHERE t.status = 'running') AS workers
FROM jobs j LEFT JOIN job_tasks t ON t.job_id = j.id
GROUP BY j.id;
"""


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("corpus", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("layers", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("origin", sa.Text(), server_default="", nullable=False),
        sa.Column("documents", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
    )  # fmt: skip
    op.create_table(
        "job_tasks",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("job_id", sa.BigInteger(), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("documents", JSONB(), nullable=False),
        sa.Column("n_documents", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(10), server_default="queued", nullable=False),
        sa.Column("attempts", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("worker", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("documents_added", sa.Integer(), server_default="0", nullable=False),
        sa.Column("documents_skipped", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sentences", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("rejected", JSONB(), server_default="[]", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed', 'cancelled')", name="status"),
    )  # fmt: skip
    op.create_index("ix_job_tasks_job_id", "job_tasks", ["job_id"])
    op.create_index(
        "ix_job_tasks_open",
        "job_tasks",
        ["id"],
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    op.execute(VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS job_progress")
    op.drop_table("job_tasks")
    op.drop_table("jobs")
