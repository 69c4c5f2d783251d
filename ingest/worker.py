"""An ingestion worker: claims tasks from the store's queue and ingests them.

Run one per process, on any machine that reaches the database (`exbert worker`);
`exbert ingest --workers N` starts N locally and the app's server starts its own.
A task is claimed under a lease that a heartbeat thread renews; the heartbeat
also notices a cancelled job, and ingestion stops between groups of documents.
If the worker dies, its lease runs out and another worker reruns the task:
documents already stored are found by their content hash and skipped.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from db import indexes, jobs
from exbert.annotate import load_spacy
from exbert.model import ModelError, load_model
from ingest.pipeline import Ingestor, IngestSummary
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
                status = self.run_task(task)
            except DBAPIError as err:
                # the database went away: wait for it (a task in hand is retried once its
                # lease runs out), trying again less often the longer it stays away
                log.warning("the store is unavailable (%s); trying again in %.0f s", err, pause)
                self.stop.wait(pause)
                pause = min(pause * 2, 30.0)
                continue
            pause = poll_seconds
            done += 1
            if on_task:
                on_task(task, status)
        return done

    def run_task(self, task: jobs.Task) -> str:
        """Ingest one task's documents; its final status: done, failed, cancelled, lost
        (another worker has it now) or stopped (this worker is shutting down; queued again)."""
        state = {"why": None}
        beat_stop = threading.Event()

        def heartbeat() -> None:
            while not beat_stop.wait(self.lease / 3):
                try:
                    with self.sessions.begin() as s:
                        answer = jobs.renew(s, task.id, self.name, self.lease)
                except Exception as err:  # noqa: BLE001 - the database may blip; try again
                    log.warning("heartbeat of task %s failed: %s", task.id, err)
                    continue
                if answer != "ok":
                    state["why"] = answer
                    return

        beat = threading.Thread(target=heartbeat, name=f"exbert-heartbeat-{task.id}", daemon=True)
        beat.start()

        checked = [float("-inf")]

        def should_stop() -> bool:
            """Asked before each document: a cancelled job or a lost lease ends the task there
            (the database is asked at most once a second)."""
            if self.stop.is_set():
                state["why"] = state["why"] or "stopped"
            elif state["why"] is None and time.monotonic() - checked[0] >= self.check_every:
                checked[0] = time.monotonic()
                with self.sessions.begin() as s:
                    answer = jobs.renew(s, task.id, self.name, self.lease)
                if answer != "ok":
                    state["why"] = answer
            return state["why"] is not None

        def progress(summary: IngestSummary) -> None:
            with self.sessions.begin() as s:
                jobs.report(s, task.id, self.name, summary.documents_added,
                            summary.documents_skipped, summary.sentences, summary.tokens)  # fmt: skip

        try:
            ingestor = self._ingestor(task)
            documents = [
                RawDocument(d["source"], d["text"], d.get("meta") or {}) for d in task.documents
            ]
            summary = ingestor.run(documents, progress=progress, stop=should_stop)
            progress(summary)
            status, error = "done", None
            if summary.stopped:
                status = {"lost": "lost", "stopped": "stopped"}.get(state["why"], "cancelled")
        except OperationalError:
            raise  # the store, not the task: run() waits for it and the lease frees the task
        except (ModelError, ValueError, OSError) as err:
            status, error = "failed", str(err)[:2000]
            summary = None
        except Exception as err:  # noqa: BLE001 - a task's failure must not kill the worker
            log.exception("task %s failed", task.id)
            status, error = "failed", f"{err.__class__.__name__}: {str(err)[:2000]}"
            summary = None
        finally:
            beat_stop.set()
            beat.join()
        if status == "lost":
            return status  # another worker has it now
        if status == "stopped":  # this worker is shutting down: another may take it now
            with self.sessions.begin() as s:
                jobs.release(s, task.id, self.name)
            return status
        rejected = (
            [{"source": e.source, "message": e.message} for e in summary.errors]
            if status == "done" and summary
            else []
        )
        with self.sessions.begin() as s:
            if not jobs.finish(s, task.id, self.name, status, rejected, error):
                return "lost"
        if status == "done" and self.index_plan.when == "ingest":
            self._index_when_job_done(task)
        return status

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

    def _ingestor(self, task: jobs.Task) -> Ingestor:
        """An ingestor for the task's corpus and model, made afresh for each task (a few
        quick queries): the corpus may have been removed and made again since the last
        one, under a new id. The model and spaCy stay loaded."""
        if self._nlp is None:
            self._nlp = load_spacy(self.spacy_model) if self.spacy_model else load_spacy()
        runner = load_model(task.model, device=self.device)
        batch = 128 if runner.device.type == "cuda" else 32  # a GPU wants wider batches
        return Ingestor(
            self.sessions, runner, task.corpus, task.layers, batch, nlp=self._nlp,
            description=task.description,
        )  # fmt: skip


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
