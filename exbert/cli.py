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


if __name__ == "__main__":
    main()
