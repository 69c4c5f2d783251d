"""Serving the app: `exbert serve` and `exbert demo`."""

from __future__ import annotations

import click

from exbert.cli.common import open_store, settings

DEMO_CORPUS = "wiki"
DEMO_SENTENCES = 3000


def _serve(host: str, port: int) -> None:
    from dashapp.app import create_app

    app = create_app(settings())
    problem = app.server.extensions["exbert"].store.available()
    if problem:
        click.echo(f"warning: {problem}", err=True)
    click.echo(f"exbert is serving at http://{host}:{port}/  (Ctrl+C stops it)")
    app.run(host=host, port=port, debug=False)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8050, show_default=True, type=int, help="Port to listen on.")
def serve(host: str, port: int) -> None:
    """Serve the web app (attention view, corpora, JSON API under /api)."""
    _serve(host, port)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8050, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--sentences", default=DEMO_SENTENCES, show_default=True, help="Sample sentences to ingest."
)
def demo(host: str, port: int, sentences: int) -> None:
    """Start the embedded database, ingest the Wikipedia sample with
    all-MiniLM-L6-v2 on first run (a few minutes), and serve the app.
    Later runs find the corpus stored and start in seconds."""
    from db.stats import corpus_sentences
    from exbert.cli.corpus import ingest

    model = settings().model
    with open_store().begin() as s:
        have = corpus_sentences(s, DEMO_CORPUS, model)
    if have < sentences:
        click.echo(f"First run: ingesting {sentences} Wikipedia sample sentences with {model}.")
        click.get_current_context().invoke(
            ingest,
            corpus=DEMO_CORPUS,
            model=model,
            sample="wiki",
            limit=sentences,
            layers=None,
            batch=32,
            index=True,
            description="gensim's Wikipedia sample (CC BY-SA)",
            paths=(),
        )
    _serve(host, port)
