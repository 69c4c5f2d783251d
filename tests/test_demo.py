"""`exbert demo` and `exbert serve` as a person runs them: a real process on a real port."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import psycopg


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_until_healthy(args, env, timeout=180):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "exbert.cli", *args, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    start = time.time()
    try:
        while time.time() - start < timeout:
            if proc.poll() is not None:
                raise AssertionError(f"exited {proc.returncode}: {proc.stdout.read()}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/health", timeout=2
                ) as resp:
                    health = json.load(resp)
                    return time.time() - start, health, port, proc
            except OSError:
                time.sleep(0.2)
        raise AssertionError("the app did not answer in time")
    except BaseException:
        proc.kill()
        raise


def test_demo_ingests_once_then_starts_fast(tiny_models, db_url):
    env = {**os.environ, "EXBERT_MODEL": tiny_models["bert-mlm"], "EXBERT_DATABASE_URL": db_url}
    first, health, port, proc = _run_until_healthy(["demo", "--sentences", "40"], env)
    try:
        assert health["database"] == "ok"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/models", timeout=5) as resp:
            assert tiny_models["bert-mlm"] in json.load(resp)["models"]
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert "First run: ingesting 40 Wikipedia sample sentences" in out
    assert "serving at http://127.0.0.1:" in out
    with psycopg.connect(db_url) as conn:
        sentences = conn.execute("SELECT count(*) FROM sentences").fetchone()[0]
    assert sentences >= 40

    second, _, _, proc = _run_until_healthy(["demo", "--sentences", "40"], env)
    proc.terminate()
    out = proc.communicate(timeout=30)[0]
    assert "First run" not in out
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM sentences").fetchone()[0] == sentences
    assert second < 30, f"second start took {second:.1f} s"
