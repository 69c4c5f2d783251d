"""Where benchmarks put their databases."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch_server() -> Iterator[str]:
    """URL of a server for throwaway databases: EXBERT_DATABASE_URL's, else an
    embedded server in a temporary folder, stopped and removed afterwards (one
    1,000-sentence ingestion leaves half a gigabyte)."""
    if url := os.environ.get("EXBERT_DATABASE_URL"):
        yield url
        return
    from db import server

    folder = Path(tempfile.mkdtemp(prefix="exbert-bench-"))
    try:
        yield server.start(folder)
    finally:
        server.stop(folder)
        shutil.rmtree(folder, ignore_errors=True)
