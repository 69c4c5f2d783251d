"""`exbert analyze`: one sentence as the model and spaCy see it."""

from __future__ import annotations

import json
import sys

import click

from exbert.cli.common import settings


@click.command()
@click.argument("sentence")
@click.option("--model", default=None, help="Model name or directory (default: EXBERT_MODEL).")
@click.option(
    "--mask", "masks", multiple=True, type=int, help="Token position to mask (repeatable)."
)
def analyze(sentence: str, model: str | None, masks: tuple[int, ...]) -> None:
    """Print tokens, annotations and top predictions for SENTENCE as JSON (as POST
    /api/attention answers, without the attention matrices)."""
    from explore.attention import AttentionViews
    from explore.errors import UserError
    from explore.models import ModelCatalog
    from explore.serialize import attention_json

    config = settings()
    model = model or config.model
    views = AttentionViews(ModelCatalog(config.model, extra=[model]), config.spacy_model)
    try:
        view = views.view(model, sentence, list(masks))
    except UserError as err:
        raise click.ClickException(str(err)) from err
    json.dump(attention_json(view, attentions=False), sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
