"""The head atlas's speed: the Heads page's requests on the demo corpus and on a copy ten
times its size, and what a backfill costs.

    .venv/bin/python -m bench.heads --home /tmp/exdemo [--copies 10] [--runs 30]

Against the store in EXBERT_HOME `--home` (the demo's): counts any document not yet
counted (`exbert heads --backfill`, timed), then times in the app's process, through
the Dash and JSON endpoints a browser calls:

- `GET /api/heads` (the whole atlas),
- the Heads page's render callback (the heatmap of one statistic),
- the cell-click callback (the sentences where a head does it most),

then builds a corpus `--copies` times the demo's (documents, sentences, words, tokens
and attention copied in SQL; its statistics are the demo's times `--copies`, since
they are sums) and times the same, to show that none of them grows with the corpus.
The copy is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from sqlalchemy import text

BIG = 1_000_000_000  # id offset of each copy


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered) * 1000:.1f} / {p95 * 1000:.1f}"


def dash_call(client, output: str, inputs: list[dict], state: list[dict] | None = None) -> dict:
    """One Dash callback request, as the browser sends it."""
    body = {"output": output, "outputs": _outputs(output), "inputs": inputs,
            "state": state or [], "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"]}  # fmt: skip
    resp = client.post("/_dash-update-component", json=body)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    return resp.get_json()


def _outputs(output: str):
    parts = output.strip(".").split("...")
    outs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]} for p in parts if p]
    return outs if output.startswith("..") else outs[0]


def time_page(app, corpus: str, model: str, runs: int) -> dict[str, list[float]]:
    from dashapp.pages import heads

    client = app.server.test_client()
    times: dict[str, list[float]] = {}

    def timed(name: str, call) -> None:
        started = time.perf_counter()
        call()
        times.setdefault(name, []).append(time.perf_counter() - started)

    render_out = "..heads-graph.figure...heads-note.children...heads-relation.options..." \
        "heads-relation.disabled...heads-direction.options...heads-url.search.."  # fmt: skip
    values = lambda stat, rel, direction: [  # noqa: E731
        {"id": heads.CORPUS, "property": "value", "value": corpus},
        {"id": heads.MODEL, "property": "value", "value": model},
        {"id": heads.STATISTIC, "property": "value", "value": stat},
        {"id": heads.RELATION, "property": "value", "value": rel},
        {"id": heads.DIRECTION, "property": "value", "value": direction},
    ]

    def click_cell(cell: tuple[int, int], state: list[dict]):
        """The cell-click callback, as the page sends it."""
        click = {"points": [{"x": cell[0], "y": cell[1]}]}
        trigger = [{"id": heads.GRAPH, "property": "clickData", "value": click}]
        return dash_call(client, "heads-examples.children", trigger, state)

    for run in range(runs + 1):
        keep = run > 0  # the first run warms caches and is not counted
        cell = (run % 4, run % 3)
        for name, call in (
            ("GET /api/heads", lambda: client.get(f"/api/heads?corpus={corpus}&model={model}")),
            (
                "Heads page: heatmap of a statistic",
                lambda: dash_call(
                    client, render_out, values("previous", "all", "dependent_to_head")
                ),
            ),
            (
                "Heads page: heatmap of det accuracy",
                lambda: dash_call(
                    client, render_out, values("dependency", "det", "head_to_dependent")
                ),
            ),
            (
                "Heads page: a cell's example sentences",
                lambda cell=cell: click_cell(cell, values("previous", "all", "dependent_to_head")),
            ),
            (
                "Heads page: a cell's example sentences (det links)",
                lambda cell=cell: click_cell(
                    cell, values("dependency", "det", "dependent_to_head")
                ),
            ),
        ):
            if keep:
                timed(name, call)
            else:
                call()
    return times


def make_copies(engine, corpus: str, copies: int) -> str:
    """A corpus `copies` times `corpus`, by copying its rows with shifted ids."""
    name = f"{corpus}-x{copies}"
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM corpora WHERE name = :n"), {"n": name})
        new_id = conn.scalar(
            text("INSERT INTO corpora (name) VALUES (:n) RETURNING id"), {"n": name}
        )
        old_id = conn.scalar(text("SELECT id FROM corpora WHERE name = :c"), {"c": corpus})
        for k in range(1, copies + 1):
            shift = {"s": k * BIG, "c": old_id, "n": new_id, "k": k}
            conn.execute(text(
                "INSERT INTO documents (id, corpus_id, source, content_hash, metadata) "
                "SELECT id + :s, :n, source, left(content_hash, 60) || :k, metadata FROM documents "
                "WHERE corpus_id = :c"), shift)  # fmt: skip
            scope = "IN (SELECT id FROM documents WHERE corpus_id = :c)"
            conn.execute(text(
                "INSERT INTO sentences (id, document_id, index, text, start_char) "
                "SELECT id + :s, document_id + :s, index, text, start_char FROM sentences "
                f"WHERE document_id {scope}"), shift)  # fmt: skip
            sentences = f"IN (SELECT s.id FROM sentences s WHERE s.document_id {scope})"
            conn.execute(text(
                "INSERT INTO words SELECT id + :s, sentence_id + :s, index, text, lemma, pos, tag, "
                "dep, head_index, ent_type, ent_iob, is_stop, start_char, end_char FROM words "
                f"WHERE sentence_id {sentences}"), shift)  # fmt: skip
            conn.execute(text(
                "INSERT INTO tokens SELECT id + :s, sentence_id + :s, model_id, position, text, "
                "word_id + :s, is_special, start_char, end_char FROM tokens "
                f"WHERE sentence_id {sentences}"), shift)  # fmt: skip
            conn.execute(text(
                "INSERT INTO document_models (document_id, model_id, head_stats) "
                f"SELECT document_id + :s, model_id, head_stats FROM document_models WHERE document_id {scope}"
            ), shift)  # fmt: skip
            conn.execute(text(
                "INSERT INTO attentions SELECT sentence_id + :s, model_id, layer, heads, tokens, "
                f"weights FROM attentions WHERE sentence_id {sentences}"), shift)  # fmt: skip
        stats = {  # table: (key columns, summed columns)
            "head_stats": ("model_id, statistic", ("totals", "count")),
            "head_syntax": ("model_id, relation, direction", ("correct", "total")),
            "syntax_baselines": (
                'model_id, relation, direction, "offset"',
                ("correct", "total"),
            ),
            "head_coverage": ("model_id", ("sentences", "tokens")),
        }
        for table, (keys, sums) in stats.items():
            times_k = ", ".join(
                f"(SELECT array_agg(x * :k ORDER BY i) FROM unnest({c}) WITH ORDINALITY u(x, i))"
                if (table, c) in (("head_stats", "totals"), ("head_syntax", "correct"))
                else f"{c} * :k"
                for c in sums
            )
            conn.execute(
                text(
                    f"INSERT INTO {table} (corpus_id, {keys}, {', '.join(sums)}) "
                    f"SELECT :n, {keys}, {times_k} FROM {table} WHERE corpus_id = :c"
                ),
                {"n": new_id, "c": old_id, "k": copies},
            )
    return name


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--home", required=True, help="EXBERT_HOME holding the demo corpus")
    parser.add_argument("--corpus", default="wiki")
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    os.environ["EXBERT_HOME"] = args.home

    from sqlalchemy.orm import sessionmaker

    from dashapp.app import create_app
    from db.engine import ensure_database, make_engine
    from exbert.config import Settings
    from ingest.head_backfill import backfill

    settings = Settings.from_env()
    app = create_app(settings)
    explorer = app.server.extensions["exbert"]
    explorer.store.sessions()  # started and migrated
    engine = make_engine(ensure_database(settings))  # no statement timeout: copies are long
    model = explorer.models.stored()[0]
    started = time.perf_counter()
    done = backfill(sessionmaker(engine), args.corpus, model)
    print(
        f"backfill: {done.documents} documents ({done.sentences} sentences) counted in "
        f"{time.perf_counter() - started:.1f} s"
    )
    atlas = explorer.heads(args.corpus, model)
    sizes = [(args.corpus, atlas["tokens"])]
    if args.copies > 1:
        started = time.perf_counter()
        big = make_copies(engine, args.corpus, args.copies)
        print(f"copied {args.copies}x in {time.perf_counter() - started:.0f} s")
        sizes.append((big, explorer.heads(big, model)["tokens"]))
    try:
        rows = {}
        for corpus, _ in sizes:
            for name, samples in time_page(app, corpus, model, args.runs).items():
                rows.setdefault(name, []).append(_ms(samples))
        print(f"{args.runs} runs each, one process, {model}")
        header = " | ".join(f"{c} ({t:,} tokens) p50 / p95 ms" for c, t in sizes)
        print(f"| request | {header} |")
        print("|---" * (len(sizes) + 1) + "|")
        for name, cells in rows.items():
            print(f"| {name} | {' | '.join(cells)} |")
        print(json.dumps({"sizes": sizes}))
    finally:
        if args.copies > 1:
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM corpora WHERE name = :n"), {"n": sizes[-1][0]})


if __name__ == "__main__":
    main()
