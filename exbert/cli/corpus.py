"""Corpus commands: `exbert ingest`, `exbert corpora`, `exbert search`."""

from __future__ import annotations

import json
import sys

import click

from exbert.cli.common import open_store, parse_numbers, settings


@click.command()
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
    help="When done, build the HNSW indexes EXBERT_INDEX asks for at ingestion (all, or "
    "a list of spaces) of spaces past 10,000 rows; with the default (searched) a space's "
    "index is built when someone first searches it.",
)
@click.option("--description", default="", help="Description of a new corpus.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Queue the documents as a job and run N local worker processes on it (more "
    "workers can join from other machines: exbert worker). Default: ingest in this process.",
)
@click.option(
    "--queue",
    "queue_only",
    is_flag=True,
    help="Only queue the job and return; workers (exbert worker) ingest it.",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where the model runs: a GPU when present (auto), or as told.",
)
@click.argument("paths", nargs=-1)
def ingest(
    corpus, model, sample, limit, layers, batch, index, description, workers, queue_only, device,
    paths,
) -> None:  # fmt: skip
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
    from ingest.spacy_process import HelperStopped

    if not paths and not sample:
        raise click.UsageError("Give PATHs to ingest (or - for stdin), or --sample wiki.")
    if workers or queue_only:
        from exbert.cli.jobs import queue_and_follow

        if limit is not None and not sample:
            raise click.UsageError("--limit counts sentences as they are stored; use it without "
                                   "--workers/--queue, or with --sample.")  # fmt: skip
        documents = (
            read_wiki_sample()
            if sample == "wiki"
            else itertools.chain.from_iterable(map(read_path, paths))
        )
        queue_and_follow(corpus, model or settings().model, documents, parse_numbers(layers),
                         description, workers, device, sentence_limit=limit)  # fmt: skip
        return
    try:
        runner = load_model(model or settings().model, device=device)
        nlp = load_spacy(settings().spacy_model)
    except (ModelError, AnnotationError) as err:
        raise click.ClickException(str(err)) from err
    factory = open_store()
    try:
        ingestor = Ingestor(factory, runner, corpus, parse_numbers(layers), batch, nlp, description)
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
    except HelperStopped as err:
        raise click.ClickException(str(err)) from err
    finally:
        bar.close()
    if index:
        from db.indexes import parse_plan

        built = ingestor.build_indexes(parse_plan(settings().index))
        if built:
            click.echo(f"built {len(built)} HNSW indexes")
    for error in summary.errors:
        click.echo(f"error: {error.source} {error.message}", err=True)
    click.echo(summary.line())
    if summary.errors:
        raise SystemExit(1)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def corpora(as_json: bool) -> None:
    """List corpora with their document, sentence and token counts per model."""
    from db.stats import corpus_counts
    from explore.serialize import corpus_json

    with open_store().begin() as s:
        rows = corpus_counts(s)
    if as_json:
        json.dump([corpus_json(r) for r in rows], sys.stdout, indent=1)
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


@click.command()
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
    from explore import export
    from explore.attention import word_position
    from explore.errors import QueryTimeout, StoreUnavailable, UserError
    from explore.explorer import Explorer
    from explore.serialize import search_json

    config = settings()
    model = model or config.model
    explorer = Explorer(config, extra_models=[model])
    try:
        if token.lstrip("-").isdigit():
            token_index = int(token)
        else:
            token_index = word_position(explorer.attention(model, sentence), token)
        result = explorer.search(
            {
                "model": model,
                "corpus": corpus,
                "sentence": sentence,
                "token_index": token_index,
                "layer": layer,
                "heads": None if heads is None else parse_numbers(heads) or [],
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
            }
        )
    except (UserError, StoreUnavailable, QueryTimeout) as err:
        raise click.ClickException(str(err)) from err
    if as_json:
        json.dump(search_json(result), sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    elif as_csv:
        sys.stdout.write(export.to_csv(result.matches))
    else:
        for rank, m in enumerate(result.matches, 1):
            match, attended = m.token(m.match_index), m.token(m.max_attention_index)
            click.echo(
                f"{rank:>3} {m.score:.3f}  {match.text:<14} -> "
                f"{attended.text if attended else '-':<14} {m.text[:90]}"
            )
        click.echo(
            f"{len(result.matches)} matches in {result.seconds * 1000:.0f} ms "
            f"({'exact' if result.exact else 'HNSW'}); match POS: {result.summary['match']['pos']}"
        )
