"""The app's one way to the database: sessions when it is reachable, a clear reason when not.

The attention view works without a database; everything that needs one goes
through `Store.transaction()`, which bounds each statement by the configured
query timeout and turns a lost or slow database into `StoreUnavailable` (503)
or `QueryTimeout` (504) instead of a traceback.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from exbert.config import Settings
from explore.errors import QueryTimeout, StoreUnavailable

log = logging.getLogger(__name__)


def describe(err: BaseException) -> str:
    if isinstance(err, OperationalError | ProgrammingError):
        detail = str(getattr(err, "orig", err)).strip().splitlines()[0]
    else:
        detail = str(err).strip().splitlines()[0] if str(err).strip() else err.__class__.__name__
    return (
        f"The corpus database is unavailable ({detail[:200]}). Check EXBERT_DATABASE_URL or "
        "unset it to use the embedded server; the attention view works without it."
    )


def _is_timeout(err: DBAPIError) -> bool:
    import psycopg.errors

    return isinstance(getattr(err, "orig", None), psycopg.errors.QueryCanceled)


class Store:
    """Sessions on the configured database, started and migrated on first use."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._factory: sessionmaker[Session] | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The database's libpq URL (starting the embedded server if it is the default)."""
        from db.engine import ensure_database

        return ensure_database(self.settings)

    def sessions(self) -> sessionmaker[Session]:
        with self._lock:
            if self._factory is None:
                from db import migrate
                from db.engine import make_engine

                try:
                    url = self.url
                    migrate.upgrade(url)
                    engine = make_engine(url, statement_timeout=self.settings.query_timeout)
                except Exception as err:  # noqa: BLE001 - server start, connect, migrate alike
                    raise StoreUnavailable(describe(err)) from err
                self._factory = sessionmaker(engine, expire_on_commit=False)
            return self._factory

    def available(self) -> str | None:
        """None when the store answers now, else why not."""
        try:
            with self.transaction() as s:
                s.execute(text("SELECT 1"))
        except (StoreUnavailable, QueryTimeout) as err:
            return str(err)
        return None

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction, committed at the end; database failures become
        StoreUnavailable or QueryTimeout."""
        factory = self.sessions()
        try:
            with factory.begin() as session:
                yield session
        except DBAPIError as err:
            if _is_timeout(err):
                raise QueryTimeout(
                    f"The query took longer than {self.settings.query_timeout:g} s and was "
                    "cancelled (EXBERT_QUERY_TIMEOUT); narrow it down or try again."
                ) from err
            if isinstance(err, OperationalError) or err.connection_invalidated:
                log.warning("database error: %s", err)
                raise StoreUnavailable(describe(err)) from err
            raise

    def dispose(self) -> None:
        with self._lock:
            if self._factory is not None:
                self._factory.kw["bind"].dispose()
                self._factory = None
