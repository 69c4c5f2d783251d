"""The app's one way to the database: sessions when it is reachable, a clear reason when not.

The attention view works without a database; pages that need one show the
reason instead of failing.
"""

from __future__ import annotations

import functools
import logging

from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)


class StoreUnavailable(RuntimeError):
    pass


@functools.lru_cache(maxsize=1)
def _factory() -> sessionmaker[Session]:
    from db import migrate
    from db.engine import database_url, sessions

    url = database_url()
    migrate.upgrade(url)
    return sessions(url)


def session_factory() -> sessionmaker[Session]:
    """Sessions on the configured store, started and migrated on first use."""
    try:
        return _factory()
    except Exception as err:  # noqa: BLE001 - server start, connection and migration errors alike
        raise StoreUnavailable(describe(err)) from err


def describe(err: Exception) -> str:
    if isinstance(err, OperationalError | ProgrammingError):
        detail = str(getattr(err, "orig", err)).strip().splitlines()[0]
    else:
        detail = str(err).strip().splitlines()[0] if str(err).strip() else err.__class__.__name__
    return (
        f"The corpus database is unavailable ({detail[:200]}). Check EXBERT_DATABASE_URL or "
        "unset it to use the embedded server; the attention view works without it."
    )


def stored_models() -> list[str]:
    try:
        from db.stats import stored_models as query

        with session_factory().begin() as s:
            return [m["name"] for m in query(s)]
    except (StoreUnavailable, OperationalError) as err:
        log.warning("%s", err)
        return []
