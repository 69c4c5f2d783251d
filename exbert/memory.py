"""Keep Python's garbage collector from pausing the app for hundreds of milliseconds."""

from __future__ import annotations

import gc

# Allocations between young collections (Python's default: 700). A search or a
# page render makes ~10,000 short-lived objects; with the default, many were
# still alive at a young collection, got promoted and soon forced a full one.
YOUNG_THRESHOLD = 20_000


def freeze_long_lived() -> None:
    """Put everything alive now out of the collector's reach (gc.freeze).

    A model or a spaCy pipeline is a few hundred thousand Python objects that
    stay for the life of the process; every full collection walked them all, a
    long pause every few dozen searches (docs/benchmarks.md, search). Called after
    each load; unfreezing first lets a model dropped from the cache be freed.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    young, older, oldest = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_THRESHOLD), older, oldest)
