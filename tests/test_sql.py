"""SQL from the browser: the store protected by the database from every hostile query."""

import time
from pathlib import Path

import psycopg
import pytest

from explore.sql_examples import EXAMPLES
from tests.conftest import settings_for

SLOW = 1.0  # EXBERT_SQL_TIMEOUT in these tests


@pytest.fixture
def client(search_copy):
    """The app on a private copy of the search corpus: a query that got through would harm
    only it."""
    from dashapp.app import create_app
    from exbert.config import Settings

    settings = Settings.from_env(
        model=search_copy["model"],
        database_url=search_copy["url"],
        sql_timeout=SLOW,
        sql_max_rows=100,
    )
    app = create_app(settings)
    yield app.server.test_client()
    app.server.extensions["exbert"].store.dispose()


def fingerprint(url: str) -> tuple:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM tokens), (SELECT count(*) FROM corpora), "
            "(SELECT md5(string_agg(text, '|' ORDER BY id)) FROM sentences), "
            "(SELECT md5(string_agg(text || pos, '|' ORDER BY id)) FROM words), "
            "(SELECT count(*) FROM pg_tables WHERE schemaname = 'public'), "
            "(SELECT count(*) FROM pg_roles), "
            "(SELECT string_agg(rolname || rolsuper, ',' ORDER BY rolname) FROM pg_roles)"
        ).fetchone()


HOSTILE = [
    "DROP TABLE tokens",
    "DELETE FROM tokens",
    "UPDATE tokens SET text = 'x'",
    "INSERT INTO corpora (name) VALUES ('x')",
    "TRUNCATE tokens",
    "CREATE TABLE evil (a int)",
    "ALTER TABLE tokens ADD COLUMN evil int",
    "GRANT ALL ON tokens TO PUBLIC",
    "SET ROLE postgres",
    "SET SESSION AUTHORIZATION postgres",
    "RESET ROLE",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT lo_import('/etc/passwd')",
    "COPY tokens TO PROGRAM 'id'",
    "COPY (SELECT 1) TO '/tmp/exbert-evil'",
    "select 1; drop table tokens",
    "BEGIN; DELETE FROM tokens; COMMIT",
    "COMMIT; DROP TABLE tokens",
    "SET transaction_read_only = off",
    "DO $$ BEGIN DELETE FROM tokens; END $$",
    "CALL evil()",
    "LISTEN evil",
    "NOTIFY evil",
    "VACUUM",
    "WITH gone AS (DELETE FROM tokens RETURNING *) SELECT count(*) FROM gone",
    "SELECT set_config('role', 'postgres', false)",
    "SELECT set_config('transaction_read_only', 'off', true)",
    "SELECT * FROM pg_authid",
    "SELECT nextval(pg_get_serial_sequence('tokens', 'id'))",
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()",
    "SELECT dblink_exec('dbname=postgres', 'DROP TABLE tokens')",
    "SELECT current_setting('data_directory')",
    "SELECT * FROM generate_series(1, 1e9)",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_a_hostile_query_is_refused_and_changes_nothing(client, search_copy, query):
    before = fingerprint(search_copy["url"])
    resp = client.post("/api/sql", json={"sql": query})
    body = resp.get_json()
    assert resp.status_code in (400, 504), (resp.status_code, body)
    assert body["error"], body
    assert fingerprint(search_copy["url"]) == before
    assert not Path("/tmp/exbert-evil").exists()


def test_long_queries_end_at_the_timeout_and_huge_answers_at_the_cap(client):
    started = time.monotonic()
    resp = client.post("/api/sql", json={"sql": "SELECT pg_sleep(600)"})
    assert resp.status_code == 504 and "EXBERT_SQL_TIMEOUT" in resp.get_json()["error"]
    assert time.monotonic() - started < SLOW + 5
    data = client.post("/api/sql", json={"sql": "SELECT generate_series(1, 1e9) AS n"}).get_json()
    assert data["truncated"] and len(data["rows"]) == 100 and data["columns"] == ["n"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"sql": ""}, 400, "Send a query"),
        ({"sql": 42}, 400, "Send a query"),
        ({"sql": "SELECT 'a\x00b'"}, 400, "NUL"),
        ({"sql": "SELECT 1 -- " + "x" * 1_000_000}, 400, "longer than"),
        ({"sql": "SELECT 1 -- " + "x" * 3_000_000}, 413, "too large"),
        ({"sql": "SELECT '" + "x" * 200_000 + "'"}, 400, "longer than"),
        ({}, 400, "Send a query"),
    ],
)
def test_bad_requests_say_what_to_send(client, body, status, message):
    resp = client.post("/api/sql", json=body)
    assert resp.status_code == status and message in resp.get_json()["error"]


def test_answers_are_readable_json(client, search_copy):
    data = client.post(
        "/api/sql", json={"sql": "SELECT 'ünïcødé 😀' AS s, 1.5::numeric AS n, now() AS t"}
    ).get_json()
    assert data["columns"] == ["s", "n", "t"] and data["rows"][0][:2] == ["ünïcødé 😀", 1.5]
    assert isinstance(data["rows"][0][2], str) and data["seconds"] >= 0
    row = client.post(
        "/api/sql",
        json={"sql": "SELECT v.embedding, a.weights FROM vectors v, attentions a LIMIT 1"},
    ).get_json()["rows"][0]
    assert row[0].startswith("[") and row[0].endswith(" values]")  # a halfvec, previewed
    assert row[1].startswith("<bytea ") and row[1].endswith(" bytes>")


def test_errors_point_at_the_query(client):
    resp = client.post("/api/sql", json={"sql": "SELECT pos, nope FROM words"})
    body = resp.get_json()
    assert resp.status_code == 400 and 'column "nope" does not exist' in body["error"]
    assert body["position"] == len("SELECT pos, ") + 1  # 1-based, into the query as sent
    body = client.post("/api/sql", json={"sql": "DROP TABLE tokens"}).get_json()
    assert "Only a query that reads" in body["error"] and body["position"] == 1


def test_the_attention_helpers_read_the_stored_bytes(client, search_copy):
    """attention_weight and sentence_attention give what the bytes hold (byte / 255)."""
    with psycopg.connect(search_copy["url"]) as conn:
        sentence, model, layer, heads, tokens, weights = conn.execute(
            "SELECT a.sentence_id, m.name, a.layer, a.heads, a.tokens, a.weights "
            "FROM attentions a JOIN models m ON m.id = a.model_id ORDER BY 1, 3 LIMIT 1"
        ).fetchone()
    h, q, k = heads - 1, tokens - 1, 0
    one = client.post("/api/sql", json={"sql": (
        f"SELECT attention_weight({sentence}, '{model}', {layer}, {h}, {q}, {k})")}).get_json()  # fmt: skip
    assert one["rows"][0][0] == pytest.approx(weights[h * tokens * tokens + q * tokens + k] / 255)
    summary = client.post("/api/sql", json={"sql": (
        f"SELECT count(*), sum(weight), sum(weight * (head * 1000000 + query_position * 1000 + key_position)) "
        f"FROM sentence_attention({sentence}, '{model}', {layer})")}).get_json()["rows"][0]  # fmt: skip
    expected = [(h * 1_000_000 + q * 1000 + k, weights[h * tokens * tokens + q * tokens + k] / 255)
                for h in range(heads) for q in range(tokens) for k in range(tokens)]  # fmt: skip
    assert summary[0] == heads * tokens * tokens
    assert summary[1] == pytest.approx(sum(w for _, w in expected))
    assert summary[2] == pytest.approx(sum(i * w for i, w in expected))  # each weight in its place
    one_head = client.post("/api/sql", json={"sql": (
        f"SELECT count(*) FROM sentence_attention({sentence}, '{model}', {layer}, 1)")}).get_json()  # fmt: skip
    assert one_head["rows"][0][0] == tokens * tokens


def test_sql_can_be_turned_off(search_corpus):
    from dashapp.app import create_app
    from exbert.config import Settings

    off = Settings.from_env(
        model=search_corpus["model"], database_url=search_corpus["url"], sql_enabled=False
    )
    app = create_app(off)
    resp = app.server.test_client().post("/api/sql", json={"sql": "SELECT 1"})
    assert resp.status_code == 400 and "turned off" in resp.get_json()["error"]
    app.server.extensions["exbert"].store.dispose()


def test_an_external_server_needs_the_readers_password(app_env):
    """Over TCP with passwords the role needs one: without EXBERT_SQL_URL a clear 503 that
    says what to set; with it, queries run."""
    from dashapp.app import create_app
    from db import migrate
    from exbert.config import Settings
    from tests.pgserver import StandalonePostgres

    standalone = StandalonePostgres().init()
    try:
        url = migrate.fresh_database(standalone.url, "exbert_sql_tcp")
        app = create_app(settings_for(app_env["model"], url))
        resp = app.server.test_client().post("/api/sql", json={"sql": "SELECT 1"})
        assert resp.status_code == 503 and "EXBERT_SQL_URL" in resp.get_json()["error"]
        with psycopg.connect(url) as conn:
            conn.execute("ALTER ROLE exbert_reader PASSWORD 'reader-secret'")
        reader = url.replace(f"exbert:{standalone.password}@", "exbert_reader:reader-secret@")
        app = create_app(
            Settings.from_env(model=app_env["model"], database_url=url, sql_url=reader)
        )
        data = app.server.test_client().post(
            "/api/sql", json={"sql": "SELECT count(*) FROM tokens"}
        )
        assert data.status_code == 200 and data.get_json()["rows"] == [[0]]
        resp = app.server.test_client().post("/api/sql", json={"sql": "DELETE FROM tokens"})
        assert resp.status_code == 400
    finally:
        standalone.remove()


def test_the_examples_are_the_docs_examples():
    import re

    doc = (Path(__file__).parent.parent / "docs" / "sql.md").read_text()
    examples = doc[doc.index("## Examples") :]
    # each example: the paragraph just before its ```sql block
    blocks = re.findall(r"\n\n((?:[^\n]+\n)*?[^\n]+)\n\n```sql\n(.*?)```", examples, flags=re.S)
    assert [(" ".join(t.split()), q) for t, q in blocks] == [
        (" ".join(t.split()), q) for t, q in EXAMPLES
    ]
