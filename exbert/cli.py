"""The `exbert` command: the one edge that composes the model runner, the store,
ingestion and the app. Commands stay thin; the work lives in the packages."""

from __future__ import annotations

import json
import sys

import click

from exbert import config


def _settings_help() -> str:
    lines = ["\b", "Settings (environment variables):"]
    for s in config.SETTINGS:
        lines.append(f"  {s.name}: {s.help}")
    return "\n".join(lines)


@click.group(
    help="exbert: explore attention and learned representations of transformer models.\n\n"
    + _settings_help(),
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="exbert")
def main() -> None:
    pass


@main.command()
@click.argument("sentence")
@click.option("--model", default=None, help="Model name or directory (default: EXBERT_MODEL).")
@click.option(
    "--mask", "masks", multiple=True, type=int, help="Token position to mask (repeatable)."
)
def analyze(sentence: str, model: str | None, masks: tuple[int, ...]) -> None:
    """Print tokens, annotations and top predictions for SENTENCE as JSON."""
    from exbert.annotate import align, annotate
    from exbert.model import ModelError, load_model

    try:
        runner = load_model(model or config.default_model())
        result = runner.analyze(sentence, masks=masks)
    except ModelError as err:
        raise click.ClickException(str(err)) from err
    words = annotate(sentence)
    links = align(
        [(t.start, t.end) for t in result.tokens], [t.is_special for t in result.tokens], words
    )
    out = {
        "model": runner.name,
        "kind": runner.kind,
        "layers": runner.layers,
        "heads": runner.heads,
        "truncated": result.truncated,
        "tokens": [
            {
                "text": t.text,
                "is_special": t.is_special,
                "word": None if link is None else words[link].__dict__,
                "predictions": None if result.predictions is None else result.predictions[i],
            }
            for i, (t, link) in enumerate(zip(result.tokens, links, strict=True))
        ],
    }
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


def _session_factory(upgrade: bool = True):
    """Sessions on the configured database, migrated to head; a clear error when it is down."""
    from sqlalchemy.exc import OperationalError

    from db import migrate
    from db.engine import DatabaseError, database_url, get_engine, sessions
    from db.server import ServerError

    try:
        url = database_url()
        if upgrade:
            migrate.upgrade(url)
        with get_engine(url).connect():
            pass
    except (ServerError, DatabaseError) as err:
        raise click.ClickException(str(err)) from err
    except OperationalError as err:
        raise click.ClickException(
            f"Cannot reach the database ({str(err.orig).strip().splitlines()[0]}). Start it, fix "
            "EXBERT_DATABASE_URL, or unset it to use the embedded server."
        ) from err
    return sessions(url)


def _parse_numbers(value: str | None) -> list[int] | None:
    if not value or value == "all":
        return None
    layers: list[int] = []
    try:
        for part in value.split(","):
            if "-" in part:
                lo, hi = part.split("-", 1)
                layers.extend(range(int(lo), int(hi) + 1))
            else:
                layers.append(int(part))
    except ValueError as err:
        raise click.BadParameter(f"{value!r}: use e.g. 0,3,5 or 2-4 or all") from err
    return layers


@main.command()
@click.option(
    "--corpus", required=True, help="Corpus name (created if new; documents are added to it)."
)
@click.option("--model", default=None, help="Model name or directory (default: EXBERT_MODEL).")
@click.option(
    "--sample", type=click.Choice(["wiki"]), help="Ingest a bundled sample instead of PATHs."
)
@click.option(
    "--limit", type=int, default=None, help="Stop once the corpus holds this many sentences."
)
@click.option(
    "--layers", default=None, help="Layers that get vectors, e.g. 0,3,5 or 2-4 (default: all)."
)
@click.option("--batch", default=32, show_default=True, help="Sentences per model forward pass.")
@click.option(
    "--index/--no-index",
    default=True,
    show_default=True,
    help="Build HNSW indexes for vector spaces past 100k rows when done.",
)
@click.option("--description", default="", help="Description of a new corpus.")
@click.argument("paths", nargs=-1)
def ingest(corpus, model, sample, limit, layers, batch, index, description, paths) -> None:
    """Add documents to a corpus: PATHs of .txt files (one document each), .jsonl
    files ({"id", "text", "meta"} per line), folders of those, or - for stdin.

    Rerunning is safe: documents already stored are skipped, a killed run
    leaves no partial document, and the same corpus can be ingested again
    with another model.
    """
    import itertools

    from tqdm import tqdm

    from exbert.annotate import AnnotationError, load_spacy
    from exbert.model import ModelError, load_model
    from ingest.pipeline import Ingestor
    from ingest.readers import read_path, read_wiki_sample

    if not paths and not sample:
        raise click.UsageError("Give PATHs to ingest (or - for stdin), or --sample wiki.")
    try:
        runner = load_model(model or config.default_model())
        nlp = load_spacy()
    except (ModelError, AnnotationError) as err:
        raise click.ClickException(str(err)) from err
    factory = _session_factory()
    try:
        ingestor = Ingestor(
            factory, runner, corpus, _parse_numbers(layers), batch, nlp, description
        )
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--layers") from err
    documents = (
        read_wiki_sample()
        if sample == "wiki"
        else itertools.chain.from_iterable(map(read_path, paths))
    )
    bar = tqdm(total=limit, unit="sent", desc=f"ingest {corpus}", dynamic_ncols=True, disable=None)

    def progress(summary) -> None:
        bar.n = summary.sentences
        secs = max(summary.seconds, 1e-9)
        bar.set_postfix_str(
            f"{summary.documents_added} docs ({summary.documents_added / secs:.1f}/s), "
            f"{summary.tokens / secs:.0f} tok/s, {summary.documents_skipped} skipped",
            refresh=True,
        )

    try:
        summary = ingestor.run(documents, limit_sentences=limit, progress=progress)
    finally:
        bar.close()
    if index:
        built = ingestor.build_indexes()
        if built:
            click.echo(f"built {len(built)} HNSW indexes")
    for error in summary.errors:
        click.echo(f"error: {error.source} {error.message}", err=True)
    click.echo(summary.line())
    if summary.errors:
        raise SystemExit(1)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def corpora(as_json: bool) -> None:
    """List corpora with their document, sentence and token counts per model."""
    from db.stats import corpus_counts

    with _session_factory().begin() as s:
        rows = corpus_counts(s)
    if as_json:
        json.dump([r.__dict__ for r in rows], sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    if not rows:
        click.echo("No corpora yet. Add one with: exbert ingest --corpus NAME PATH...")
        return
    header = (
        f"{'corpus':<20} {'documents':>9} {'sentences':>9}  {'model':<32} {'docs':>6} {'tokens':>9}"
    )
    click.echo(header)
    for r in rows:
        click.echo(
            f"{r.corpus:<20} {r.documents:>9} {r.sentences:>9}  {r.model or '-':<32} "
            f"{r.model_documents:>6} {r.tokens:>9}"
        )


@main.command()
@click.option("--corpus", required=True, help="Corpus to search.")
@click.option(
    "--model",
    default=None,
    help="Model name (default: EXBERT_MODEL); it must be stored with the corpus.",
)
@click.option("--sentence", required=True, help="The sentence the query token comes from.")
@click.option(
    "--token",
    "token",
    required=True,
    help="The query token: its position (0 is the first, often [CLS]) or a word of the sentence.",
)
@click.option("--layer", default=0, show_default=True, type=int, help="Layer (0-based).")
@click.option(
    "--by",
    type=click.Choice(["embedding", "context"]),
    default="embedding",
    show_default=True,
    help="Compare the layer's hidden states, or the selected heads' contexts.",
)
@click.option("--heads", default=None, help="Heads, e.g. 0,3,7 (default: all).")
@click.option("-k", "k", default=50, show_default=True, type=int, help="Number of matches.")
@click.option("--pos", multiple=True, help="Only matches with this POS (repeatable).")
@click.option("--tag", multiple=True, help="Only matches with this fine-grained tag (repeatable).")
@click.option("--dep", multiple=True, help="Only matches with this dependency label (repeatable).")
@click.option(
    "--ent-type", "ent_type", multiple=True, help="Only matches with this entity type (repeatable)."
)
@click.option(
    "--include-own-sentence", is_flag=True, help="Let the query's own sentence match too."
)
@click.option("--exact", is_flag=True, help="Exact scan instead of the HNSW index.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print results and summary as JSON (as POST /api/search).",
)
@click.option(
    "--csv", "as_csv", is_flag=True, help="Print the matches and their annotations as CSV."
)
def search(
    corpus,
    model,
    sentence,
    token,
    layer,
    by,
    heads,
    k,
    pos,
    tag,
    dep,
    ent_type,
    include_own_sentence,
    exact,
    as_json,
    as_csv,
) -> None:
    """Find the corpus tokens most similar to one token of SENTENCE, and summarise them."""
    from dashapp import search as search_service
    from dashapp import services
    from db.search import SearchError
    from db.stats import stored_models

    factory = _session_factory()
    with factory.begin() as s:
        allowed = services.available_models([m["name"] for m in stored_models(s)])
    model = model or config.default_model()
    try:
        token_index = _token_position(model, sentence, token, allowed)
        request = search_service.parse_request(
            {
                "model": model,
                "corpus": corpus,
                "sentence": sentence,
                "token_index": token_index,
                "layer": layer,
                "heads": None if heads is None else [int(h) for h in _parse_numbers(heads) or []],
                "by": by,
                "k": k,
                "filters": {
                    "pos": list(pos),
                    "tag": list(tag),
                    "dep": list(dep),
                    "ent_type": list(ent_type),
                },
                "exclude_own_sentence": not include_own_sentence,
                "exact": exact,
            },
            allowed,
        )
        result = search_service.search(factory, request)
    except (services.UserError, SearchError) as err:
        raise click.ClickException(str(err)) from err
    if as_json:
        json.dump(result.to_json(), sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    elif as_csv:
        sys.stdout.write(search_service.to_csv(result))
    else:
        for rank, r in enumerate(result.results, 1):
            tokens = {t["position"]: t for t in r["tokens"]}
            m, a = tokens[r["match_index"]], tokens.get(r["max_attention_index"])
            click.echo(
                f"{rank:>3} {r['score']:.3f}  {m['text']:<14} -> {a['text'] if a else '-':<14} {r['text'][:90]}"
            )
        click.echo(
            f"{len(result.results)} matches in {result.seconds * 1000:.0f} ms "
            f"({'exact' if result.exact else 'HNSW'}); match POS: {result.summary['match']['pos']}"
        )


def _token_position(model: str, sentence: str, token: str, allowed) -> int:
    """A token position from a number or a word of the sentence."""
    from dashapp import services

    if token.lstrip("-").isdigit():
        return int(token)
    view = services.attention_view(services.check_model(model, allowed), sentence)
    for t in view.tokens:
        if t.word and t.word["text"].lower() == token.lower():
            return t.index
    raise services.UserError(f"No word {token!r} in the sentence; give a token position instead.")


def _start_store() -> None:
    """Start and migrate the store before serving; warn (and serve anyway) when it is down."""
    from dashapp import store_access

    try:
        store_access.session_factory()
    except store_access.StoreUnavailable as err:
        click.echo(f"warning: {err}", err=True)


def _serve(host: str, port: int) -> None:
    from dashapp.app import create_app

    app = create_app()
    click.echo(f"exbert is serving at http://{host}:{port}/  (Ctrl+C stops it)")
    app.run(host=host, port=port, debug=False)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8050, show_default=True, type=int, help="Port to listen on.")
def serve(host: str, port: int) -> None:
    """Serve the web app (attention view, corpora, JSON API under /api)."""
    _start_store()
    _serve(host, port)


DEMO_CORPUS = "wiki"
DEMO_SENTENCES = 3000


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8050, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--sentences", default=DEMO_SENTENCES, show_default=True, help="Sample sentences to ingest."
)
def demo(host: str, port: int, sentences: int) -> None:
    """Start the embedded database, ingest the Wikipedia sample with
    all-MiniLM-L6-v2 on first run (a few minutes), and serve the app.
    Later runs find the corpus stored and start in seconds."""
    from dashapp import store_access
    from db.stats import corpus_sentences

    model = config.default_model()
    factory = _session_factory()
    with factory.begin() as s:
        have = corpus_sentences(s, DEMO_CORPUS, model)
    if have < sentences:
        click.echo(f"First run: ingesting {sentences} Wikipedia sample sentences with {model}.")
        ctx = click.get_current_context()
        ctx.invoke(
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
    store_access.session_factory()
    _serve(host, port)


@main.group()
def db() -> None:
    """The database: migrations, its URL, the embedded server."""


@db.command()
def upgrade() -> None:
    """Migrate the database to the newest schema."""
    _session_factory(upgrade=True)
    click.echo("database is at the newest schema")


@db.command()
def url() -> None:
    """Print a libpq URL for psql: psql "$(exbert db url)". Starts the embedded
    server when that is the default, and leaves it running."""
    from db.engine import DatabaseError, database_url
    from db.server import ServerError

    try:
        click.echo(database_url(keep_running=True))
    except (ServerError, DatabaseError) as err:
        raise click.ClickException(str(err)) from err


@db.command()
def stop() -> None:
    """Stop the embedded server."""
    from db import server

    click.echo("stopped" if server.stop() else "the embedded server was not running")


if __name__ == "__main__":
    main()
