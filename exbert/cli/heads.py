"""`exbert heads`: what each head does over a corpus (the head atlas), and its backfill."""

from __future__ import annotations

import json
import sys

import click

from exbert.cli.common import open_store, settings


@click.command()
@click.option("--corpus", required=True, help="Corpus whose head statistics to show.")
@click.option("--model", default=None, help="Model (default: EXBERT_MODEL).")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the statistics as GET /api/heads does."
)
@click.option(
    "--backfill",
    is_flag=True,
    help="First count the documents stored before ingestion counted head statistics.",
)
@click.option("--top", default=5, show_default=True, help="Heads listed per statistic.")
def heads(corpus: str, model: str | None, as_json: bool, backfill: bool, top: int) -> None:
    """What each attention head does over a corpus: its attention to the previous and next
    token, itself, the first and last positions and punctuation, its entropy, and how
    often its most-attended word is a word's dependency head (Clark et al. 2019)."""
    from explore.errors import QueryTimeout, StoreUnavailable, UserError
    from explore.explorer import Explorer

    config = settings()
    model = model or config.model
    if backfill:
        from tqdm import tqdm

        from ingest.head_backfill import backfill as run_backfill

        bar = tqdm(unit="doc", desc="count heads", disable=None)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            summary = run_backfill(open_store(), corpus, model, progress)
        except ValueError as err:
            raise click.ClickException(str(err)) from err
        finally:
            bar.close()
        click.echo(
            f"counted {summary.documents} documents, {summary.sentences} sentences", err=True
        )
    explorer = Explorer(config, extra_models=[model])
    try:
        atlas = explorer.heads(corpus, model)
    except (UserError, StoreUnavailable, QueryTimeout) as err:
        raise click.ClickException(str(err)) from err
    if as_json:
        json.dump(atlas, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    click.echo(
        f"{atlas['corpus']} with {atlas['model']}: {atlas['sentences']:,} sentences, "
        f"{atlas['tokens']:,} tokens, {atlas['layers']} layers x {atlas['heads']} heads"
    )
    for name, grid in atlas["stats"].items():
        ranked = sorted(
            (
                (value, layer, head)
                for layer, row in enumerate(grid)
                for head, value in enumerate(row)
            ),
            reverse=name != "entropy",
        )[:top]
        click.echo(
            f"{name:>16}: " + ", ".join(f"{layer}-{head} {v:.3f}" for v, layer, head in ranked)
        )
    for relation, entry in sorted(atlas["dependency"].items(), key=lambda kv: -kv[1]["count"])[:10]:
        grid = entry["dependent_to_head"]
        value, layer, head = max((v, i, j) for i, row in enumerate(grid) for j, v in enumerate(row))
        click.echo(
            f"{relation:>16}: best head {layer}-{head} {value:.3f} (baseline {entry['baseline']:.3f}, "
            f"{entry['count']:,} links)"
        )
