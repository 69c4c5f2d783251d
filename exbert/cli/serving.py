"""Serving the app: `exbert serve` and `exbert demo`."""

from __future__ import annotations

import click

from exbert.cli.common import open_store, settings, wait_or_kill

DEMO_CORPUS = "wiki"
DEMO_SENTENCES = 3000


def _prepare_store() -> None:
    """Start (the embedded server) and migrate the store in this process, before any
    worker starts: workers then find it ready, and it lives as long as the server."""
    from db import migrate
    from db.engine import ensure_database

    try:
        migrate.upgrade(ensure_database(settings()))
    except Exception as err:  # noqa: BLE001 - served anyway: attention needs no store
        click.echo(f"warning: the corpus database is unavailable ({err}); serving anyway", err=True)


def _serve(host: str, port: int, workers: int | None, debug: bool, ingest_workers: int = 1) -> None:
    import subprocess
    import sys

    # ingestion workers for the Corpora page's jobs, beside the web workers; more can
    # join from any machine (exbert worker)
    helpers = [
        subprocess.Popen(
            [sys.executable, "-m", "exbert.cli", "worker", "--quiet"], preexec_fn=_die_with_parent
        )
        for _ in range(ingest_workers)
    ]
    click.echo(f"exbert is serving at http://{host}:{port}/  (Ctrl+C stops it)")
    try:
        _run_server(host, port, workers, debug)
    finally:
        for helper in helpers:
            helper.terminate()
        wait_or_kill(helpers, 30)


def _die_with_parent() -> None:
    """In a helper before it runs: SIGTERM when the server dies, even by kill -9 (Linux),
    so no worker outlives the server that started it."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _run_server(host: str, port: int, workers: int | None, debug: bool) -> None:
    if debug:
        from dashapp.app import create_app

        create_app(settings()).run(host=host, port=port, debug=True)
        return
    from dashapp.wsgi import default_workers, serve

    serve(settings(), host, port, workers or default_workers())


def _options(command):
    for option in reversed(
        [
            click.option(
                "--host", default="127.0.0.1", show_default=True, help="Interface to listen on."
            ),
            click.option(
                "--port", default=8050, show_default=True, type=int, help="Port to listen on."
            ),
            click.option(
                "--workers",
                type=click.IntRange(1, 64),
                default=None,
                help="Worker processes (default: one per core, as memory allows; each loads "
                "its own models).",
            ),
            click.option(
                "--debug", is_flag=True, help="Dash's development server, reloading on changes."
            ),
            click.option(
                "--ingest-workers",
                type=click.IntRange(0, 64),
                default=1,
                show_default=True,
                help="Ingestion workers started beside the server, for jobs queued from the "
                "Corpora page (0: none; run exbert worker elsewhere).",
            ),
        ]
    ):
        command = option(command)
    return command


@click.command()
@_options
def serve(host: str, port: int, workers: int | None, debug: bool, ingest_workers: int) -> None:
    """Serve the web app (attention view, corpora, JSON API under /api) with a production
    WSGI server (gunicorn): Ctrl+C stops it at once, SIGTERM lets requests finish."""
    _prepare_store()
    _serve(host, port, workers, debug, ingest_workers)


@click.command()
@_options
@click.option(
    "--sentences", default=DEMO_SENTENCES, show_default=True, help="Sample sentences to ingest."
)
def demo(
    host: str, port: int, workers: int | None, debug: bool, ingest_workers: int, sentences: int
) -> None:
    """Start the embedded database, ingest the Wikipedia sample with
    all-MiniLM-L6-v2 on first run (a few minutes), and serve the app.
    Later runs find the corpus stored and start in seconds."""
    import subprocess
    import sys

    from db.stats import corpus_sentences

    model = settings().model
    _prepare_store()  # this process holds the embedded server while ingestion runs beside it
    with open_store().begin() as s:
        have = corpus_sentences(s, DEMO_CORPUS, model)
    if have < sentences:
        click.echo(f"First run: ingesting {sentences} Wikipedia sample sentences with {model}.")
        # in a process of its own: the server's workers are forked from this one, which
        # must not have run torch's threads (they do not survive a fork)
        ingest = [sys.executable, "-m", "exbert.cli", "ingest", "--corpus", DEMO_CORPUS]
        ingest += ["--model", model, "--sample", "wiki", "--limit", str(sentences)]
        ingest += ["--description", "gensim's Wikipedia sample (CC BY-SA)"]
        if subprocess.run(ingest).returncode != 0:
            raise click.ClickException("Ingesting the sample failed; see the messages above.")
    _serve(host, port, workers, debug, ingest_workers)
