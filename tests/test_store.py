"""The schema and migrations against a real PostgreSQL with pgvector."""

import psycopg

from db import migrate


def _tables(url):
    with psycopg.connect(url) as conn:
        return {
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }


def test_migrations_run_from_empty_to_head_and_back(pg_url):
    name = f"exbert_mig_{__import__('os').getpid()}"
    url = migrate.fresh_database(pg_url, name, migrated=False)
    try:
        assert migrate.current(url) is None
        migrate.upgrade(url)
        assert migrate.current(url) == migrate.head() == "0008"
        assert {
            "models",
            "corpora",
            "documents",
            "sentences",
            "words",
            "tokens",
            "vectors",
            "attentions",
        } <= _tables(url)
        with psycopg.connect(url) as conn:
            version = conn.execute(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            ).fetchone()[0]
            assert tuple(int(x) for x in version.split(".")[:2]) >= (0, 8)
            partitioned = conn.execute(
                "SELECT relkind FROM pg_class WHERE relname = 'vectors'"
            ).fetchone()[0]
            assert partitioned == "p"
            # 0002: attention bytes uncompressed (pglz cost half of ingestion's database time)
            storage = conn.execute(
                "SELECT attstorage FROM pg_attribute "
                "WHERE attrelid = 'attentions'::regclass AND attname = 'weights'"
            ).fetchone()[0]
            assert storage == "e"
        migrate.downgrade(url, "base")
        assert "tokens" not in _tables(url)
        migrate.upgrade(url)
        assert migrate.current(url) == migrate.head()
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_db_url_prints_a_libpq_url(db_url):
    from click.testing import CliRunner

    from exbert.cli import main

    sa_style = db_url.replace("postgresql://", "postgresql+psycopg://")
    out = CliRunner().invoke(main, ["db", "url"], env={"EXBERT_DATABASE_URL": sa_style})
    assert out.exit_code == 0 and out.output.strip() == db_url
    with psycopg.connect(out.output.strip()) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_embedded_server_recovers_from_a_killed_owner(tmp_path_factory):
    """A process killed while holding the server leaves its pid behind; the next start prunes it."""
    import json
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from db import server

    home = Path(tempfile.mkdtemp(prefix="exbert-test-kill-"))
    code = f"from db import server; from pathlib import Path; print(server.start(Path({str(home)!r})), flush=True); import time; time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    proc.kill()
    proc.wait()
    pids = json.loads((home / "pgdata" / ".handle_pids.json").read_text())
    assert proc.pid in pids  # the stale handle the wheel leaves
    server._servers.clear()
    assert server.start(home) == url
    assert proc.pid not in json.loads((home / "pgdata" / ".handle_pids.json").read_text())
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        # the first start restarted the server once so that shared_buffers applies ...
        assert conn.execute(
            "SELECT pg_size_bytes(current_setting('shared_buffers')) = pg_size_bytes(%s)",
            (server.tuning()["shared_buffers"],),
        ).fetchone() == (True,)
        # ... and that pg_prewarm's worker keeps the buffers warm across restarts
        assert conn.execute("SHOW shared_preload_libraries").fetchone() == ("pg_prewarm",)
    assert server.stop(home)
    assert (home / "pgdata" / "autoprewarm.blocks").exists()  # the buffer list, saved at shutdown


def test_root_refuses_a_private_home(tmp_path):
    import os

    import pytest

    from db import server

    if os.geteuid() != 0:
        pytest.skip("only root makes the server user open parent folders")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(server.ServerError, match="other users cannot enter"):
        server.start(private / "home")


def _drift(url: str) -> list:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from db.engine import make_engine
    from db.schema import Base

    def ours(obj, name, type_, reflected, compare_to):  # noqa: ANN001
        # partitions and their HNSW indexes are made per vector space at run time
        return not (type_ in ("table", "index") and name and name.startswith("vectors_s"))

    engine = make_engine(url, pooled=False)
    try:
        with engine.connect() as conn:
            opts = {"compare_type": True, "compare_server_default": True, "include_object": ours}
            return compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
    finally:
        engine.dispose()


def test_the_models_and_the_migrations_agree(db_url, search_corpus):
    """db/schema.py and migrations/ describe the same tables, on a fresh store and on one
    with data (an Alembic drift check: a column added to one alone fails here)."""
    assert _drift(db_url) == []
    assert _drift(search_corpus["url"]) == []
