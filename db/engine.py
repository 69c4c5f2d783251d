"""One engine and one session factory per process, for whichever database is configured."""

from __future__ import annotations

import functools
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from exbert.config import Settings


class DatabaseError(RuntimeError):
    """The database cannot be reached or used; the message says what to do."""


def libpq_url(url: str) -> str:
    """A plain libpq URL (what psql accepts) from any SQLAlchemy-style URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "postgres":
        scheme = "postgresql"
    return urlunsplit((scheme, *parts[1:]))


def sqlalchemy_url(url: str) -> str:
    parts = urlsplit(libpq_url(url))
    return urlunsplit(("postgresql+psycopg", *parts[1:]))


def ensure_database(settings: Settings, keep_running: bool = False) -> str:
    """The configured database's libpq URL; starts the embedded server when that is the
    default (`keep_running`: it outlives this process, as `exbert db url` needs)."""
    if settings.database_url:
        return libpq_url(settings.database_url)
    from db import server

    return server.start(settings.home, keep_running=keep_running)


# Candidates the index walk keeps (200: with the graph built at ef_construction 128,
# 400 found no more at 95k, 250k or 1M rows and took 1.5x as long), iterative scans (so
# a filtered walk still finds k rows, relaxed order: the outer sort puts the few
# out-of-order rows right) and where a filtered walk gives up (then the exact scan
# answers); measured in docs/benchmarks.md (search).
HNSW_SESSION = {
    "hnsw.ef_search": "200",
    "hnsw.iterative_scan": "relaxed_order",
    "hnsw.max_scan_tuples": "200000",
}


def make_engine(url: str, pooled: bool = True, statement_timeout: float | None = None) -> Engine:
    """An engine whose connections know pgvector's types; `statement_timeout` (seconds)
    bounds every statement run on it."""
    from pgvector.psycopg import register_vector

    pool_args = {"pool_size": 5, "max_overflow": 5} if pooled else {"poolclass": NullPool}
    connect_args = {"connect_timeout": 5, "application_name": "exbert"}
    if statement_timeout:
        connect_args["options"] = f"-c statement_timeout={int(statement_timeout * 1000)}"
    engine = create_engine(
        sqlalchemy_url(url), pool_pre_ping=True, connect_args=connect_args, **pool_args
    )

    @event.listens_for(engine, "connect")
    def _register(dbapi_connection, _record):  # noqa: ANN001
        try:
            register_vector(dbapi_connection)
            # the HNSW walk's settings (db/nearest.py) for the whole session, so a search
            # needs no SET of its own (a round trip, a tenth of a small space's search);
            # pgvector's library loaded first, or its GUCs would be placeholders that its
            # loading drops
            dbapi_connection.execute("SELECT '[1]'::vector")
            for name, value in HNSW_SESSION.items():
                dbapi_connection.execute(f"SET {name} = '{value}'")
            dbapi_connection.commit()
        except Exception:  # noqa: BLE001 - before `db upgrade` the extension may not exist yet
            dbapi_connection.rollback()

    return engine


@functools.lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """The process's engine for `url` (ingestion and the CLI; the app holds its own)."""
    return make_engine(url)


def sessions(url: str) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


def driver_connection(session: Session):
    """The psycopg connection under the session's transaction (for COPY, and for
    reads of many rows that need no SQLAlchemy row objects)."""
    return session.connection().connection.driver_connection
