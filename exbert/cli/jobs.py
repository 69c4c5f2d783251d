"""Job commands: `exbert worker`, `exbert jobs`, and `exbert ingest --workers/--queue`."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterable

import click

from exbert.cli.common import open_store, settings, wait_or_kill

MAX_QUEUED_CHARS = 2_000_000_000  # what one `ingest --queue` may put in the store at once


def queue_and_follow(
    corpus: str,
    model: str,
    documents: Iterable,
    layers: list[int] | None,
    description: str,
    workers: int | None,
    device: str,
    sentence_limit: int | None = None,
) -> None:
    """Queue documents as one job; with `workers`, run that many local workers on it and
    follow it with a progress bar until it ends."""
    from tqdm import tqdm

    from db import jobs
    from ingest.readers import ReadError
    from ingest.worker import start_local, wait_for

    sessions = open_store()
    docs, rejected, chars, sentences = [], [], 0, 0
    for item in documents:
        if isinstance(item, ReadError):
            rejected.append((item.source, item.message))
            click.echo(f"error: {item.source} {item.message}", err=True)
            continue
        docs.append({"source": item.source, "text": item.text, "meta": item.meta})
        chars += len(item.text)
        sentences += item.text.count(". ") + 1  # a rough count, for --sample --limit
        if chars > MAX_QUEUED_CHARS:
            raise click.ClickException("More than 2 GB of text in one job; queue it in parts.")
        if sentence_limit is not None and sentences >= sentence_limit:
            break
    with sessions.begin() as s:
        job_id = jobs.enqueue(s, corpus, model, docs, layers, description, "cli", rejected)
    click.echo(f"job {job_id}: {len(docs)} documents queued for {corpus!r} with {model}")
    if not workers:
        click.echo("Workers ingest it: exbert worker (here or on any machine that reaches the "
                   "database); follow it with exbert jobs.")  # fmt: skip
        return
    procs = start_local(
        workers, "--job", str(job_id), "--device", device, "--model", model, "--quiet"
    )
    bar = tqdm(total=len(docs) + len(rejected), unit="doc", desc=f"ingest {corpus}",
               dynamic_ncols=True, disable=None)  # fmt: skip

    def show(p: jobs.JobProgress) -> None:
        bar.n = p.documents_done + p.documents_failed + p.documents_rejected
        bar.set_postfix_str(
            f"{p.tokens_per_second:.0f} tok/s, {p.tasks_running} running, {p.tasks_failed} failed",
            refresh=True,
        )

    try:
        state = wait_for(
            sessions, job_id, show, stop=lambda: all(p.poll() is not None for p in procs)
        )
    except KeyboardInterrupt:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        raise click.ClickException(
            f"Stopped. Job {job_id} stays queued: exbert worker finishes it.") from None  # fmt: skip
    finally:
        bar.close()
        wait_or_kill(procs, 60)
    click.echo(_line(state))
    if state.errors:
        click.echo(f"failed: {state.errors}", err=True)
    if state.status != "done":
        raise SystemExit(1)


def _line(p) -> str:
    return (
        f"job {p.id} {p.status}: {p.documents_added} documents added, "
        f"{p.documents_done - p.documents_added} already stored, {p.documents_failed} failed, "
        f"{p.documents_rejected} rejected; {p.sentences} sentences, {p.tokens} tokens "
        f"({p.tokens_per_second:.0f} tokens/s)"
    )


@click.command()
@click.option("--exit-when-idle", is_flag=True, help="Stop when no job has work left.")
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where models run: a GPU when present (auto), or as told.",
)
@click.option("--job", "job_id", type=int, default=None, help="Work only on this job.")
@click.option(
    "--model",
    default=None,
    help="The model to load before the first job (default: EXBERT_MODEL); a job naming "
    "another loads it when claimed.",
)
@click.option("--lease", type=float, default=30.0, hidden=True, help="Lease seconds (tests).")
@click.option("--quiet", is_flag=True, hidden=True)
def worker(
    exit_when_idle: bool,
    device: str,
    job_id: int | None,
    model: str | None,
    lease: float,
    quiet: bool,
) -> None:
    """Ingest queued jobs: claim a task, ingest its documents, repeat. Run as many as the
    machines allow, on any machine that reaches the database (EXBERT_DATABASE_URL); a
    worker that dies leaves its task to another once its lease runs out (30 s). Ctrl+C
    or SIGTERM stops it after the document in hand; its task goes back to the queue."""
    from exbert.model import ModelError, pick_device
    from ingest.worker import Worker

    try:
        chosen = pick_device(device)
    except ModelError as err:
        raise click.ClickException(str(err)) from err
    from db.indexes import parse_plan

    sessions = open_store()
    config = settings()
    w = Worker(
        sessions,
        device=device,
        spacy_model=config.spacy_model,
        lease_seconds=lease,
        index_plan=parse_plan(config.index),
    )

    def stop(signum, frame) -> None:  # noqa: ARG001
        w.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if not quiet:
        click.echo(f"worker {w.name} on {chosen.type}: loading spaCy and {model or config.model}")
    w.prepare(model or config.model)
    if not quiet:
        click.echo(f"worker {w.name} on {chosen.type}: waiting for jobs (Ctrl+C stops)")

    def told(task, status) -> None:
        if not quiet:
            click.echo(
                f"job {task.job_id} task {task.id}: {len(task.documents)} documents {status}"
            )

    done = w.run(exit_when_idle=exit_when_idle, job_id=job_id, on_task=told)
    if not quiet:
        click.echo(f"worker {w.name}: {done} tasks")


@click.command()
@click.option("--all", "show_all", is_flag=True, help="Also finished jobs (default: 20 newest).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--cancel", type=int, default=None, metavar="JOB", help="Cancel a job.")
@click.option(
    "--retry", type=int, default=None, metavar="JOB", help="Queue a job's failed tasks again."
)
def jobs(show_all: bool, as_json: bool, cancel: int | None, retry: int | None) -> None:
    """List ingestion jobs (queued, running, failed, done) with their progress; failed
    ones say why. The same is in SQL: SELECT * FROM job_progress."""
    from db import jobs as store_jobs

    sessions = open_store()
    with sessions.begin() as s:
        if cancel is not None:
            if not store_jobs.cancel(s, cancel):
                raise click.ClickException(f"No job {cancel}.")
            click.echo(f"job {cancel} cancelled")
            return
        if retry is not None:
            n = store_jobs.retry(s, retry)
            click.echo(f"job {retry}: {n} failed tasks queued again")
            return
        rows = store_jobs.progress(s, limit=1000 if show_all else 20)
    if as_json:
        json.dump([_json(r) for r in rows], sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
        return
    if not rows:
        click.echo("No jobs. Queue one with: exbert ingest --corpus NAME --queue PATH...")
        return
    click.echo(
        f"{'job':>5} {'status':<10} {'corpus':<16} {'model':<28} {'documents':>13} {'tok/s':>7}"
    )
    for r in rows:
        done = r.documents_done + r.documents_failed + r.documents_rejected
        click.echo(f"{r.id:>5} {r.status:<10} {r.corpus[:16]:<16} {r.model[-28:]:<28} "
                   f"{f'{done}/{r.documents}':>13} {r.tokens_per_second:>7.0f}")  # fmt: skip
        if r.errors:
            click.echo(f"      why: {r.errors[:500]}")


def _json(r) -> dict:
    from dataclasses import asdict

    return {**asdict(r), "fraction": r.fraction}
