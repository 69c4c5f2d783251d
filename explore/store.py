"""The app's one way to the database: sessions when it is reachable, a clear reason when not.

The attention view works without a database; everything that needs one goes
through `Store.transaction()`, which bounds each statement by the configured
query timeout and turns a lost or slow database into `StoreUnavailable` (503)
or `QueryTimeout` (504) instead of a traceback. A lost database is survived
without a restart: the pool drops its dead connections, and the embedded server,
when it is the store, is started again in the background.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from exbert.config import Settings
from explore.errors import QueryTimeout, StoreUnavailable

log = logging.getLogger(__name__)

REVIVE_EVERY = 2.0  # seconds between attempts to start a lost embedded server
HEALTH_TIMEOUT_MS = 2000


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
        self._engine: Engine | None = None
        self.url: str | None = None  # once connected: for work beside the pool (index builds)
        self._factory: sessionmaker[Session] | None = None
        self._lock = threading.Lock()
        self._reviving = False
        self._last_revive = float("-inf")

    @property
    def embedded(self) -> bool:
        return not self.settings.database_url

    def sessions(self) -> sessionmaker[Session]:
        with self._lock:
            if self._factory is None:
                from db import migrate
                from db.engine import ensure_database, make_engine

                try:
                    url = ensure_database(self.settings)
                    migrate.upgrade(url)
                    engine = make_engine(url, statement_timeout=self.settings.query_timeout)
                except Exception as err:  # noqa: BLE001 - server start, connect, migrate alike
                    raise StoreUnavailable(describe(err)) from err
                self._engine = engine
                self.url = url
                self._factory = sessionmaker(engine, expire_on_commit=False)
            return self._factory

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
                self._lost(err)
                raise StoreUnavailable(describe(err)) from err
            raise

    def available(self) -> str | None:
        """None when the store answers a query now (within two seconds), else why not."""
        try:
            with self.transaction() as s:
                s.execute(text(f"SET LOCAL statement_timeout = {HEALTH_TIMEOUT_MS}"))
                s.execute(text("SELECT 1"))
        except (StoreUnavailable, QueryTimeout) as err:
            return str(err)
        return None

    # -- a lost database ------------------------------------------------------------

    def _lost(self, err: BaseException) -> None:
        """Drop the pool's connections (they all point at the lost server); start the
        embedded server again in the background."""
        log.warning("the corpus database was lost: %s", str(err).strip().splitlines()[0][:200])
        if self._engine is not None:
            self._engine.dispose()
        if not self.embedded:
            return  # an external server: new connections succeed once it is back
        with self._lock:
            if self._reviving or time.monotonic() - self._last_revive < REVIVE_EVERY:
                return
            self._reviving = True
        threading.Thread(target=self._revive, name="exbert-revive", daemon=True).start()

    def _revive(self) -> None:
        from db.engine import ensure_database

        try:
            ensure_database(self.settings)
        except Exception as err:  # noqa: BLE001 - tried again at the next failure
            log.warning("could not start the embedded server again: %s", err)
        finally:
            with self._lock:
                self._reviving = False
                self._last_revive = time.monotonic()

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
            self._engine = self._factory = None
