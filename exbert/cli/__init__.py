"""The `exbert` command: the one edge that composes the model runner, the store,
ingestion, the explorer and the app. Each command lives in the module named after
it and stays thin; the work lives in the packages."""

from __future__ import annotations

import click

from exbert import config
from exbert.cli import corpus, database, heads, index, jobs, sentence, serving


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


for command in (
    sentence.analyze,
    corpus.ingest,
    corpus.corpora,
    corpus.search,
    heads.heads,
    index.index,
    jobs.worker,
    jobs.jobs,
    serving.serve,
    serving.demo,
    database.db,
):
    main.add_command(command)
