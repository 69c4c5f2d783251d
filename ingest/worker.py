"""An ingestion worker: claims tasks from the store's queue and ingests them.

Run one per process, on any machine that reaches the database (`exbert worker`);
`exbert ingest --workers N` starts N locally and the app's server starts its own.
A task is claimed under a lease that a heartbeat thread renews; a cancelled job
or a lost lease is noticed between documents, and the task stops there. If the
worker dies, its lease runs out and another worker reruns the task: documents
already stored are found by their content hash and skipped.

A worker runs its job's tasks as one pipeline (`Ingestor.run_groups`): it claims
and reads the next task while the last one's documents are being written, and
finishes a task only once its transaction has committed. One task at a time
left its writes overlapping nothing: one worker took +86-89% over the floor
(docs/scaling.md).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from db import indexes, jobs
from exbert.annotate import AnnotationError, load_spacy
from exbert.model import ModelError, load_model
from ingest.groups import GroupError, IngestSummary
from ingest.pipeline import Ingestor
from ingest.readers import RawDocument

log = logging.getLogger("exbert.worker")
LEASE_SECONDS = 30.0  # a lost worker's task waits this long for another


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    """Claims and runs tasks until told to stop (or, with exit_when_idle, until none is left)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        device: str = "auto",
        spacy_model: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
        name: str | None = None,
        index_plan: indexes.IndexPlan = indexes.SEARCHED,
    ):
        self.sessions = sessions
        self.index_plan = index_plan  # EXBERT_INDEX: "ingest" plans index when a job is done
        self.device = device
        self.spacy_model = spacy_model
        self.lease = lease_seconds
        self.check_every = 1.0  # seconds between asks whether the job was cancelled
        self.name = name or worker_name()
        self.stop = threading.Event()
        self._nlp = None

    def prepare(self, model: str | None = None) -> None:
        """Load spaCy, and `model` if given (the default model: most jobs name it), before
        the first claim, so that a task's time is ingestion's: loading them after the claim
        took 2.6-2.8 s of a 1,000-sentence job (docs/scaling.md). A model that fails to load
        here (or spaCy) fails the tasks that need it, later, with the reason."""
        try:
            self._spacy()
            if model:
                load_model(model, device=self.device)
        except (ModelError, AnnotationError, OSError) as err:
            log.warning("not loaded ahead (%s): %s", model, err)

    def run(
        self,
        exit_when_idle: bool = False,
        job_id: int | None = None,
        poll_seconds: float = 1.0,
        on_task: Callable[[jobs.Task, str], None] | None = None,
    ) -> int:
        """Tasks done; returns when stopped, or idle with `exit_when_idle` (no open task
        of `job_id`, or of any job, left: running ones of other workers included, so a
        lost worker's task is waited for and taken over)."""
        done = 0
        pause = poll_seconds
        while not self.stop.is_set():
            try:
                with self.sessions.begin() as s:
                    jobs.fail_lost(s)
                    task = jobs.claim(s, self.name, self.lease, job_id)
                if task is None:
                    if exit_when_idle:
                        with self.sessions.begin() as s:
                            if jobs.open_tasks(s, job_id) == 0:
                                break
                    self.stop.wait(poll_seconds)
                    continue
                done += self.run_tasks(task, on_task)
            except DBAPIError as err:
                # the database went away: wait for it (a task in hand is retried once its
                # lease runs out), trying again less often the longer it stays away
                log.warning("the store is unavailable (%s); trying again in %.0f s", err, pause)
                self.stop.wait(pause)
                pause = min(pause * 2, 30.0)
                continue
            pause = poll_seconds
        return done

    def run_tasks(
        self,
        first: jobs.Task,
        on_task: Callable[[jobs.Task, str], None] | None = None,
    ) -> int:
        """Ingest `first` and then further tasks of its job as one pipeline:
        the next task is claimed and read while the last one's documents are written, and a
        task is finished only once its transaction has committed. Each task ends done,
        failed, cancelled, lost (another worker has it now) or stopped (this worker is
        shutting down; queued again); `on_task(task, status)` is told. Returns how many
        tasks ended."""
        held: dict[int, jobs.Task] = {first.id: first}  # claimed, not ended yet
        why: dict[int, str] = {}  # why a held task must stop: cancelled, lost, stopped
        current = [first]
        ended = [0]
        beat_stop = threading.Event()

        def heartbeat() -> None:
            while not beat_stop.wait(self.lease / 3):
                for task in list(held.values()):
                    try:
                        with self.sessions.begin() as s:
                            answer = jobs.renew(s, task.id, self.name, self.lease)
                    except Exception as err:  # noqa: BLE001 - the database may blip; try again
                        log.warning("heartbeat of task %s failed: %s", task.id, err)
                        continue
                    if answer != "ok":
                        why.setdefault(task.id, answer)

        checked = [float("-inf")]

        def should_stop() -> bool:
            """Asked before each document: a cancelled job or a lost lease ends the task there
            (the database is asked at most once a second)."""
            task = current[0]
            if self.stop.is_set():
                why.setdefault(task.id, "stopped")
            elif task.id not in why and time.monotonic() - checked[0] >= self.check_every:
                checked[0] = time.monotonic()
                with self.sessions.begin() as s:
                    answer = jobs.renew(s, task.id, self.name, self.lease)
                if answer != "ok":
                    why[task.id] = answer
            return task.id in why

        def tasks() -> Iterator[tuple[int, list[RawDocument]]]:
            task = first
            while True:
                held[task.id] = current[0] = task
                yield (
                    task.id,
                    [
                        RawDocument(d["source"], d["text"], d.get("meta") or {})
                        for d in task.documents
                    ],
                )
                if self.stop.is_set():
                    return
                with self.sessions.begin() as s:  # while the last task is being written
                    task = jobs.claim(s, self.name, self.lease, first.job_id)
                if task is None:
                    return

        def end(task: jobs.Task, status: str, summary=None, error=None) -> None:  # noqa: ANN001
            held.pop(task.id, None)
            if status == "stopped":  # this worker is shutting down: another may take it now
                with self.sessions.begin() as s:
                    jobs.release(s, task.id, self.name)
            elif status != "lost":  # lost: another worker has it now
                rejected = [{"source": e.source, "message": e.message} for e in summary.errors] if status == "done" and summary else []  # fmt: skip
                with self.sessions.begin() as s:
                    if summary is not None:
                        jobs.report(s, task.id, self.name, summary.documents_added,
                                    summary.documents_skipped, summary.sentences, summary.tokens)  # fmt: skip
                    if not jobs.finish(s, task.id, self.name, status, rejected, error):
                        status = "lost"
            ended[0] += 1
            if on_task:
                on_task(task, status)
            if status == "done" and self.index_plan.when == "ingest":
                self._index_when_job_done(task)

        def group_done(task_id: int, summary: IngestSummary) -> None:
            status = "done"
            if summary.stopped:
                status = {"lost": "lost", "stopped": "stopped"}.get(why.get(task_id), "cancelled")
            end(held[task_id], status, summary)

        beat = threading.Thread(target=heartbeat, name=f"exbert-heartbeat-{first.id}", daemon=True)
        beat.start()
        try:
            ingestor = self._ingestor(first)
            ingestor.run_groups(tasks(), stop=should_stop, on_group=group_done)
        except Exception as err:  # noqa: BLE001 - a task's failure must not kill the worker
            failed_key = err.key if isinstance(err, GroupError) else current[0].id
            cause = err.__cause__ if isinstance(err, GroupError) else err
            if isinstance(cause, OperationalError):
                # the store, not the task: run() waits for it, the leases free the tasks
                raise cause from None
            if isinstance(cause, (ModelError, ValueError, OSError)):
                error = str(cause)[:2000]
            else:
                log.error("task %s failed", failed_key, exc_info=cause)
                error = f"{cause.__class__.__name__}: {str(cause)[:2000]}"
            for task in list(held.values()):
                if task.id == failed_key:
                    end(task, "failed", error=error)
                else:  # not its fault: queued again for the next claim
                    with self.sessions.begin() as s:
                        jobs.release(s, task.id, self.name)
                    held.pop(task.id)
        finally:
            beat_stop.set()
            beat.join()
        return ended[0]

    def _index_when_job_done(self, task: jobs.Task) -> None:
        """Once a job's last task is done, the indexes the plan wants, built beside
        searches (several workers finishing at once build each one once)."""
        with self.sessions.begin() as s:
            if jobs.open_tasks(s, task.job_id):
                return
            model_id = s.scalar(text("SELECT id FROM models WHERE name = :m"), {"m": task.model})
            todo = indexes.spaces_to_index(s, model_id, self.index_plan) if model_id else []
        url = self.sessions.kw["bind"].url.render_as_string(hide_password=False)
        for space_id, dim, _ in todo:
            indexes.build_concurrently(url, space_id, dim)

    def _spacy(self):  # noqa: ANN202
        if self._nlp is None:
            self._nlp = load_spacy(self.spacy_model) if self.spacy_model else load_spacy()
        return self._nlp

    def _ingestor(self, task: jobs.Task) -> Ingestor:
        """An ingestor for the task's corpus and model, made afresh for each run of a job's
        tasks (a few quick queries): the corpus may have been removed and made again since
        the last one, under a new id. The model and spaCy stay loaded."""
        runner = load_model(task.model, device=self.device)
        batch = 128 if runner.device.type == "cuda" else 32  # a GPU wants wider batches
        return Ingestor(
            self.sessions, runner, task.corpus, task.layers, batch, nlp=self._spacy(),
            description=task.description,
        )  # fmt: skip


def start_local(n: int, *args: str, env: dict[str, str] | None = None) -> list:
    """n `exbert worker --exit-when-idle ARGS` processes on this machine, the cores shared
    out between them (N workers each running torch on every core slow each other down)."""
    import subprocess
    import sys

    threads = str(max(1, (os.cpu_count() or 1) // n))
    env = {**(os.environ if env is None else env), "OMP_NUM_THREADS": threads}
    command = [sys.executable, "-m", "exbert.cli", "worker", "--exit-when-idle", *args]
    return [subprocess.Popen(command, env=env) for _ in range(n)]


def wait_for(
    sessions: sessionmaker[Session],
    job_id: int,
    on_progress: Callable[[jobs.JobProgress], None],
    every: float = 0.5,
    stop: Callable[[], bool] | None = None,
) -> jobs.JobProgress:
    """Follow a job until it is done, failed or cancelled (or `stop()` says so)."""
    while True:
        with sessions.begin() as s:
            (state,) = jobs.progress(s, [job_id])
        on_progress(state)
        if state.status in ("done", "failed", "cancelled") or (stop and stop()):
            return state
        time.sleep(every)
