"""spaCy in a helper process for the length of an ingestion run.

Why: on two cores the writer thread stores one group of documents while spaCy reads
the next, and in one process the two take turns holding the interpreter lock: spaCy
ran about 1.5 s slower per 1,000 sentences beside the writer than alone, most of
ingestion's overhead over its floor (docs/benchmarks.md, ingestion). A forked helper
has an interpreter of its own; it inherits the loaded pipeline, so it starts in
milliseconds and reads exactly as the parent would.

A run's first group is read in the ingesting process (a run of a few documents,
such as a job's task, never starts a helper); the helper starts with the second.
It is not used where forking is unsafe or unavailable: outside Linux, and for
pipelines that run torch (a forked child must not use the parent's torch threads).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from exbert.shapes import Sentence
from ingest import text

# components that run torch: a forked child would share the parent's thread pools
TORCH_COMPONENTS = ("transformer", "curated_transformer", "trf_tok2vec")

_nlp = None  # the pipeline, in the helper (set by its initializer)


class HelperStopped(RuntimeError):
    """The helper process died: the run ends there, what it stored is whole."""


def can_fork(nlp) -> bool:
    """Whether a forked helper may read with this pipeline."""
    return (
        sys.platform == "linux"
        and "fork" in multiprocessing.get_all_start_methods()
        and not any(name in TORCH_COMPONENTS for name in getattr(nlp, "pipe_names", ()))
    )


def _adopt(nlp, parent: int) -> None:
    global _nlp
    _nlp = nlp
    # Ctrl+C reaches the whole process group: the ingesting process ends the run and
    # then this helper, after the group in hand, rather than both printing a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with(parent)


def _die_with(parent: int) -> None:
    """The helper goes when the ingesting process goes, however it ends (kill -9, out of
    memory): Linux's parent-death signal. Without it a killed worker's helper lived on,
    holding its pipeline's memory, as an orphan nobody would end. (The signal comes when
    the thread that forked the helper ends: the thread that runs the ingestion, which
    closes the helper before it ends.)"""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent was gone before the signal was asked for
        os._exit(1)


def _annotate(texts: list[str], limit: int) -> list[list[Sentence]]:
    return text.annotate_documents(texts, _nlp, limit)


class SpacyHelper:
    """Annotates groups of documents as `ingest.text.annotate_documents` does: the
    first group here, the rest in a forked helper process (see the module's note)."""

    def __init__(self, nlp, use_process: bool | None = None):
        self.nlp = nlp
        self.use_process = can_fork(nlp) if use_process is None else use_process
        self.groups = 0  # groups annotated so far
        self._pool: ProcessPoolExecutor | None = None

    @property
    def pid(self) -> int | None:
        """The helper's process id, once it has started."""
        return None if self._pool is None else self._pool.submit(os.getpid).result()

    def annotate(self, texts: Sequence[str], limit: int) -> list[list[Sentence]]:
        self.groups += 1
        if not texts:
            return []
        if not self.use_process or self.groups == 1:
            return text.annotate_documents(texts, self.nlp, limit)
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_adopt,
                initargs=(self.nlp, os.getpid()),  # inherited by the fork, not pickled
            )
        try:
            return self._pool.submit(_annotate, list(texts), limit).result()
        except BrokenProcessPool as err:
            raise HelperStopped(
                "spaCy's helper process stopped (out of memory, or killed) while reading "
                "documents; nothing of the unread documents was stored: run the same "
                "command again to continue."
            ) from err

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> SpacyHelper:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
