"""The explorer's cache: least recently used goes first, a missing value is computed once."""

import threading
import time

import pytest

from explore.cache import LRU


def test_least_recently_used_goes_first():
    cache = LRU(2)
    assert cache.get("a", lambda: 1) == 1 and cache.get("b", lambda: 2) == 2
    cache.get("a", lambda: 0)  # touched: now "b" is the oldest
    cache.get("c", lambda: 3)
    assert "a" in cache and "c" in cache and "b" not in cache


def test_callers_of_the_same_missing_key_share_one_computation():
    cache, calls, results = LRU(4), [], []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return "done"

    threads = [
        threading.Thread(target=lambda: results.append(cache.get("k", slow))) for _ in range(5)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1] and results == ["done"] * 5


def test_a_failed_computation_is_retried_by_the_next_caller():
    cache = LRU(4)

    def fail():
        raise ValueError("no")

    with pytest.raises(ValueError):
        cache.get("k", fail)
    assert cache.get("k", lambda: 7) == 7


def test_a_batch_reads_what_is_kept_and_adds_the_rest_oldest_out_first():
    cache = LRU(3)
    cache.put({"a": 1, "b": 2})
    assert cache.known(["a", "x", "b"]) == {"a": 1, "b": 2}
    cache.known(["a"])  # touched: "b" is now the oldest
    cache.put({"c": 3, "d": 4})
    assert cache.known("abcd") == {"a": 1, "c": 3, "d": 4}
    assert cache.get("c", lambda: 0) == 3  # the same store as get's
