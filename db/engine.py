"""One engine and one session factory per process, for whichever database is configured."""

from __future__ import annotations

import functools
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from exbert import config


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


def database_url(start_embedded: bool = True, keep_running: bool = False) -> str:
    """The configured database's libpq URL, starting the embedded server when it is the default."""
    url = config.database_url()
    if url:
        return libpq_url(url)
    if not start_embedded:
        raise DatabaseError("No EXBERT_DATABASE_URL and the embedded server is not started.")
    from db import server

    return server.start(keep_running=keep_running)


def make_engine(url: str, pooled: bool = True) -> Engine:
    from pgvector.psycopg import register_vector

    pool_args = {"pool_size": 5, "max_overflow": 5} if pooled else {"poolclass": NullPool}
    engine = create_engine(
        sqlalchemy_url(url),
        pool_pre_ping=True,
        connect_args={"connect_timeout": 5, "application_name": "exbert"},
        **pool_args,
    )

    @event.listens_for(engine, "connect")
    def _register(dbapi_connection, _record):  # noqa: ANN001
        try:
            register_vector(dbapi_connection)
        except Exception:  # noqa: BLE001 - before `db upgrade` the extension may not exist yet
            dbapi_connection.rollback()

    return engine


@functools.lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    return make_engine(url or database_url())


def sessions(url: str | None = None) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)
