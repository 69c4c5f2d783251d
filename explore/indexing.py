"""Indexes where people search: the first search of a big enough space without an HNSW
index starts building it, in a thread of this process, beside the searches.

With EXBERT_INDEX=searched (the default) nobody pays for an index they never use,
neither in ingestion time nor on disk (~1.2 kB a token a space), and a space that is
searched answers from its index a little later (13 s for 95,000 rows on two cores;
docs/benchmarks.md, search). Until then its searches scan exactly, as before. The build
is CONCURRENTLY and under an advisory lock (db/indexes.build_concurrently), so several
app processes asking at once build it once and nobody waits on it.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.orm import Session

from db import indexes
from db.nearest import Space
from explore.store import Store

log = logging.getLogger(__name__)

RETRY_AFTER = 600.0  # seconds before a failed build is tried again (not on every search)

_lock = threading.Lock()
_building: set[tuple[str, int]] = set()  # (database URL, space id) being built here
_failed: dict[tuple[str, int], float] = {}  # -> when its build last failed


def wanted(store: Store, session: Session, space: Space) -> bool:
    """Whether this search should start the space's index build (the row count, a query,
    only asked when the rest says yes). EXBERT_INDEX=searched covers every space; a list
    of spaces means at ingestion, not here."""
    if space.indexed:
        return False
    return (
        indexes.parse_plan(store.settings.index).when == "searched"
        and indexes.estimated_rows(session, space.id) >= indexes.HNSW_MIN_ROWS
    )


def forget_builds() -> None:
    """Forget this process's builds and failures (a test session starting afresh)."""
    with _lock:
        _building.clear()
        _failed.clear()


def build_in_background(store: Store, space: Space) -> threading.Thread | None:
    """Start building the space's index unless this process is at it already; the
    thread, for tests to wait on."""
    url = store.url
    if url is None:
        return None
    key = (url, space.id)
    with _lock:
        if key in _building or time.monotonic() - _failed.get(key, -RETRY_AFTER) < RETRY_AFTER:
            return None
        _building.add(key)

    def build() -> None:
        try:
            if indexes.build_concurrently(url, space.id, space.dim):
                log.info("built the HNSW index of vector space %s", space.id)
        except Exception:  # noqa: BLE001 - a failed build leaves exact search, as before
            log.exception("building the HNSW index of vector space %s failed", space.id)
            with _lock:
                _failed[key] = time.monotonic()
        finally:
            with _lock:
                _building.discard(key)

    thread = threading.Thread(target=build, name=f"exbert-index-{space.id}", daemon=True)
    thread.start()
    return thread
