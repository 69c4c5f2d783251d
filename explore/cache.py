"""A small thread-safe LRU map: the explorer's caches of model runs, words, views and
stored sentences."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

V = TypeVar("V")


class LRU(Generic[V]):
    """Computes a missing value once: a page's callbacks ask for the same new sentence at
    the same moment, and each extra model run would make all of them wait longer."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._computing: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The cached value, or `compute()` stored; callers of the same missing key wait
        for the first one's result (an exception is theirs alone: the next caller retries)."""
        while True:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key]
                busy = self._computing.get(key)
                if busy is None:
                    busy = self._computing[key] = threading.Lock()
                    busy.acquire()
                    break
            with busy:  # another thread computes it: wait, then look again
                pass
        try:
            value = compute()
            with self._lock:
                self._items[key] = value
                self._items.move_to_end(key)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
            return value
        finally:
            with self._lock:
                del self._computing[key]
            busy.release()

    def known(self, keys: Iterable[Hashable]) -> dict[Hashable, V]:
        """The cached values of those of `keys` that are cached (for a batch whose
        missing values are read together)."""
        with self._lock:
            found = {k: self._items[k] for k in keys if k in self._items}
            for k in found:
                self._items.move_to_end(k)
            return found

    def put(self, items: dict[Hashable, V]) -> None:
        with self._lock:
            self._items.update(items)
            for k in items:
                self._items.move_to_end(k)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
