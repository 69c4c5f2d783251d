"""Ingestion jobs in the store: enqueue, claim under a lease, report, finish, cancel.

The database is the coordinator (no second service): a worker claims one open
task with FOR UPDATE SKIP LOCKED, so two workers never take the same one, and
holds it under a lease it renews; a worker that dies (kill -9, a lost machine)
stops renewing, and once the lease runs out the next claim takes the task
again. Rerunning a task is safe because ingestion is idempotent: a document is
stored whole in one transaction and found again by its content hash.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from db.engine import driver_connection

DOCUMENTS_PER_TASK = 8  # the ingestion group: one transaction per task's documents
CHARS_PER_TASK = 100_000  # ... or fewer, when documents are long (~30 s of work)
MAX_ATTEMPTS = 3  # a task whose worker was lost this often fails, with that reason


@dataclass(frozen=True)
class Task:
    id: int
    job_id: int
    corpus: str
    model: str
    layers: list[int] | None
    description: str
    documents: list[dict]  # [{source, text, meta}]
    attempts: int


@dataclass(frozen=True)
class JobProgress:
    id: int
    corpus: str
    model: str
    layers: str | None
    origin: str
    status: str  # queued, running, done, failed, cancelled
    documents: int
    documents_done: int
    documents_added: int
    documents_failed: int
    documents_rejected: int
    sentences: int
    tokens: int
    tokens_per_second: float
    tasks_running: int
    tasks_failed: int
    errors: str | None
    workers: str | None
    created_at: object
    started_at: object
    finished_at: object

    @property
    def fraction(self) -> float:
        """How much of the job is behind it (failed and rejected documents count as done)."""
        if self.documents == 0:
            return 1.0
        finished = self.documents_done + self.documents_failed + self.documents_rejected
        return min(1.0, finished / self.documents)


def _tasks(documents: Iterable[dict]) -> Iterable[list[dict]]:
    group: list[dict] = []
    chars = 0
    for doc in documents:
        if group and (
            len(group) == DOCUMENTS_PER_TASK or chars + len(doc["text"]) > CHARS_PER_TASK
        ):
            yield group
            group, chars = [], 0
        group.append(doc)
        chars += len(doc["text"])
    if group:
        yield group


def enqueue(
    session: Session,
    corpus: str,
    model: str,
    documents: Iterable[dict],
    layers: list[int] | None = None,
    description: str = "",
    origin: str = "",
    rejected: Iterable[tuple[str, str]] = (),
) -> int:
    """A job for these documents ({source, text, meta}), split into tasks; inputs that
    could not be read (`rejected`: source, why) become failed tasks that say why.
    Returns the job's id."""
    job_id = session.scalar(
        text(
            "INSERT INTO jobs (corpus, model, layers, description, origin) "
            "VALUES (:c, :m, :l, :d, :o) RETURNING id"
        ),
        {
            "c": corpus,
            "m": model,
            "l": None if layers is None else ",".join(map(str, layers)),
            "d": description,
            "o": origin,
        },
    )
    cur = driver_connection(session).cursor()
    total = 0
    with cur.copy("COPY job_tasks (job_id, documents, n_documents) FROM STDIN") as copy:
        for group in _tasks(documents):
            copy.write_row((job_id, json.dumps(group), len(group)))
            total += len(group)
    failed = [(source, message) for source, message in rejected]
    if failed:
        cur.executemany(
            "INSERT INTO job_tasks (job_id, documents, n_documents, status, error, finished_at) "
            "VALUES (%s, %s, 1, 'failed', %s, now())",
            [(job_id, json.dumps([{"source": s}]), f"{s}: {m}") for s, m in failed],
        )
        total += len(failed)
    session.execute(text("UPDATE jobs SET documents = :n WHERE id = :j"), {"n": total, "j": job_id})
    return job_id


def fail_lost(session: Session) -> int:
    """Tasks whose worker was lost MAX_ATTEMPTS times fail, saying so (not retried forever)."""
    return session.execute(
        text(
            "UPDATE job_tasks SET status = 'failed', finished_at = now(), error = "
            "format('its worker stopped answering %s times (last: %s); retry with exbert jobs "
            "--retry', attempts, worker) "
            "WHERE status = 'running' AND lease_until < now() AND attempts >= :n"
        ),
        {"n": MAX_ATTEMPTS},
    ).rowcount


def claim(
    session: Session, worker: str, lease_seconds: float, job_id: int | None = None
) -> Task | None:
    """The oldest open task (queued, or running with its lease run out), now this worker's."""
    row = session.execute(
        text(
            "UPDATE job_tasks t SET status = 'running', attempts = t.attempts + 1, worker = :w, "
            "lease_until = now() + make_interval(secs => :lease), "
            "started_at = coalesce(t.started_at, now()) "
            "WHERE t.id = ("
            "  SELECT o.id FROM job_tasks o JOIN jobs j ON j.id = o.job_id "
            "  WHERE o.status IN ('queued', 'running') AND j.cancelled_at IS NULL "
            "    AND (o.status = 'queued' OR o.lease_until < now()) "
            "    AND (CAST(:job AS bigint) IS NULL OR o.job_id = :job) "
            "  ORDER BY o.id FOR UPDATE OF o SKIP LOCKED LIMIT 1) "
            "RETURNING t.id, t.job_id, t.documents, t.attempts"
        ),
        {"w": worker, "lease": lease_seconds, "job": job_id},
    ).first()
    if row is None:
        return None
    job = session.execute(
        text("SELECT corpus, model, layers, description FROM jobs WHERE id = :j"), {"j": row[1]}
    ).one()
    layers = None if job[2] is None else [int(x) for x in job[2].split(",") if x]
    return Task(row[0], row[1], job[0], job[1], layers, job[3], row[2], row[3])


def renew(session: Session, task_id: int, worker: str, lease_seconds: float) -> str:
    """Extend this worker's lease: 'ok', 'cancelled' (the job was), or 'lost' (the task is
    no longer this worker's: its lease ran out and another took it)."""
    row = session.execute(
        text(
            "UPDATE job_tasks t SET lease_until = now() + make_interval(secs => :lease) "
            "FROM jobs j WHERE t.id = :t AND t.worker = :w AND t.status = 'running' "
            "AND j.id = t.job_id RETURNING j.cancelled_at IS NOT NULL"
        ),
        {"t": task_id, "w": worker, "lease": lease_seconds},
    ).first()
    if row is None:
        return "lost"
    return "cancelled" if row[0] else "ok"


def report(session: Session, task_id: int, worker: str, added: int, skipped: int,
           sentences: int, tokens: int) -> None:  # fmt: skip
    """A running task's progress so far (read by job_progress)."""
    session.execute(
        text(
            "UPDATE job_tasks SET documents_added = :a, documents_skipped = :s, sentences = :n, "
            "tokens = :k WHERE id = :t AND worker = :w AND status = 'running'"
        ),
        {"a": added, "s": skipped, "n": sentences, "k": tokens, "t": task_id, "w": worker},
    )


def finish(
    session: Session,
    task_id: int,
    worker: str,
    status: str,
    rejected: list[dict] | None = None,
    error: str | None = None,
) -> bool:
    """End this worker's task as done, failed or cancelled; False when it was not its own
    any more (another worker has it now and will finish it)."""
    return (
        session.execute(
            text(
                "UPDATE job_tasks SET status = :st, finished_at = now(), lease_until = NULL, "
                "rejected = CAST(:r AS jsonb), error = :e "
                "WHERE id = :t AND worker = :w AND status = 'running'"
            ),
            {
                "st": status,
                "r": json.dumps(rejected or []),
                "e": error,
                "t": task_id,
                "w": worker,
            },
        ).rowcount
        == 1
    )


def release(session: Session, task_id: int, worker: str) -> None:
    """Give a task back to the queue (its worker is shutting down), progress kept."""
    session.execute(
        text(
            "UPDATE job_tasks SET status = 'queued', worker = NULL, lease_until = NULL, "
            "attempts = greatest(attempts - 1, 0) "
            "WHERE id = :t AND worker = :w AND status = 'running'"
        ),
        {"t": task_id, "w": worker},
    )


def cancel(session: Session, job_id: int) -> bool:
    """Stop a job: its queued tasks are cancelled now, running ones between documents."""
    found = session.execute(
        text("UPDATE jobs SET cancelled_at = coalesce(cancelled_at, now()) WHERE id = :j"),
        {"j": job_id},
    ).rowcount
    session.execute(
        text(
            "UPDATE job_tasks SET status = 'cancelled', finished_at = now() "
            "WHERE job_id = :j AND status = 'queued'"
        ),
        {"j": job_id},
    )
    return found == 1


def retry(session: Session, job_id: int) -> int:
    """Queue a job's failed tasks again (after a fix: a model installed, a file replaced);
    inputs that could not be read stay failed. Returns how many were queued."""
    return session.execute(
        text(
            "UPDATE job_tasks SET status = 'queued', attempts = 0, error = NULL, worker = NULL, "
            "lease_until = NULL, finished_at = NULL "
            "WHERE job_id = :j AND status = 'failed' AND documents -> 0 ? 'text'"
        ),
        {"j": job_id},
    ).rowcount


def progress(
    session: Session, job_ids: list[int] | None = None, limit: int = 50
) -> list[JobProgress]:
    """Jobs, newest first (or the ones asked for), as job_progress shows them."""
    fields = ", ".join(JobProgress.__dataclass_fields__)
    where = "WHERE id = ANY(:ids)" if job_ids is not None else ""
    rows = session.execute(
        text(f"SELECT {fields} FROM job_progress {where} ORDER BY id DESC LIMIT :n"),
        {"ids": job_ids or [], "n": limit},
    )
    return [JobProgress(*r) for r in rows]


def open_tasks(session: Session, job_id: int | None = None) -> int:
    """Tasks queued or running (of one job, or of all)."""
    return session.scalar(
        text(
            "SELECT count(*) FROM job_tasks t JOIN jobs j ON j.id = t.job_id "
            "WHERE t.status IN ('queued', 'running') AND j.cancelled_at IS NULL "
            "AND (CAST(:job AS bigint) IS NULL OR t.job_id = :job)"
        ),
        {"job": job_id},
    )
