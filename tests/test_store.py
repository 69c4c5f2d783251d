"""The schema and migrations against a real PostgreSQL with pgvector."""

import psycopg

from db import migrate
from tests.conftest import with_database


def _tables(url):
    with psycopg.connect(url) as conn:
        return {
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }


def test_migrations_run_from_empty_to_head_and_back(pg_url):
    name = f"exbert_mig_{__import__('os').getpid()}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(pg_url, name)
    try:
        assert migrate.current(url) is None
        migrate.upgrade(url)
        assert migrate.current(url) == "0001"
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
        migrate.downgrade(url, "base")
        assert "tokens" not in _tables(url)
        migrate.upgrade(url)
        assert migrate.current(url) == "0001"
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
