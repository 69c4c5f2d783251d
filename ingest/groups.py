"""One ingestion run over groups of documents: what is in flight and what is counted.

`Ingestor.run_groups` (ingest/pipeline.py) drives a `Run`: each group is read (spaCy,
then the model) while the writer thread stores the one before, and a group is told done
only once its last write has committed (a worker ends its task then).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Hashable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from db.writes import SentenceModelRows
from exbert.shapes import Sentence
from ingest.readers import RawDocument, ReadError
from ingest.spacy_process import SpacyHelper
from ingest.text import MAX_CHUNK_CHARS, MAX_SENTENCE_CHARS

if TYPE_CHECKING:
    from ingest.pipeline import Ingestor

# Model rows of at most this many sentences wait for the writer (tens of kB a token
# with MiniLM's 6 layers): bounds memory when documents are big.
HOLD_SENTENCES = 1_000


@dataclass
class IngestSummary:
    documents_added: int = 0
    documents_skipped: int = 0
    sentences: int = 0
    sentences_skipped: int = 0
    tokens: int = 0
    seconds: float = 0.0
    errors: list[ReadError] = field(default_factory=list)
    stopped: bool = False  # `stop` said so before every document was read

    def line(self) -> str:
        rate = lambda n: n / self.seconds if self.seconds else 0.0  # noqa: E731
        return (
            f"{self.documents_added} documents added, {self.documents_skipped} already stored, "
            f"{self.sentences} sentences, {self.tokens} tokens in {self.seconds:.1f} s "
            f"({rate(self.documents_added):.1f} docs/s, {rate(self.sentences):.0f} sentences/s, "
            f"{rate(self.tokens):.0f} tokens/s)"
            + (
                f"; {self.sentences_skipped} over-long sentences skipped"
                if self.sentences_skipped
                else ""
            )
            + (f"; {len(self.errors)} inputs rejected" if self.errors else "")
        )


class GroupError(RuntimeError):
    """Reading or writing one group failed: `key` says which; the cause is the error."""

    def __init__(self, key: Hashable):
        super().__init__(f"group {key!r} failed")
        self.key = key


@dataclass
class Group:
    """A group in flight: its own counts, and its writes not yet committed."""

    key: Hashable
    summary: IngestSummary = field(default_factory=IngestSummary)
    started: float = field(default_factory=time.perf_counter)
    writes: int = 0
    closed: bool = False

    def count(self, total: IngestSummary, sentences: int, tokens: int) -> None:
        """A document done: added (tokens written) or already stored (0)."""
        for s in (total, self.summary):
            if tokens:
                s.documents_added += 1
                s.sentences += sentences
                s.tokens += tokens
            else:
                s.documents_skipped += 1  # stored before, meanwhile, or a repeat

    def error(self, total: IngestSummary, error: ReadError) -> None:
        total.errors.append(error)
        self.summary.errors.append(error)


class Run:
    """One run of `Ingestor.run_groups`: its counts and the writes in flight."""

    def __init__(self, ingestor: Ingestor, limit_sentences, stop, on_group):  # noqa: ANN001
        self.ingestor = ingestor
        self.limit = limit_sentences
        self.stop = stop
        self.on_group = on_group
        self.summary = IngestSummary()
        self.started = time.perf_counter()
        self.seen = 0  # sentences of this corpus stored for this model, for --limit
        # writes handed over: (their group, sentences of each document, future of tokens)
        self.pending: deque[tuple[Group, list[int], Future]] = deque()
        self.ready: list[tuple[RawDocument, list[Sentence], list[SentenceModelRows]]] = []
        self.spacy: SpacyHelper
        self.writer: ThreadPoolExecutor

    def limit_reached(self) -> bool:
        return self.limit is not None and self.seen >= self.limit

    def read_group(self, g: Group, batch: Sequence[RawDocument | ReadError]) -> None:
        """One group: documents stored already are skipped (or given this model), the rest
        read by spaCy and the model and handed to the writer; then closed."""
        try:
            self._read(g, batch)
        except GroupError:
            raise
        except Exception as err:
            self.ready.clear()
            raise GroupError(g.key) from err
        self.close(g)

    def _read(self, g: Group, batch: Sequence[RawDocument | ReadError]) -> None:
        ing, summary = self.ingestor, self.summary
        fresh = []
        stored = ing._stored(batch)
        for item in batch:
            if isinstance(item, ReadError):
                g.error(summary, item)
                continue
            if self.limit_reached():
                break  # a model added to stored documents stops at the limit too
            known = stored.get(item.content_hash)
            if known is None:
                fresh.append(item)
            elif known.done:
                g.count(summary, known.sentences, 0)
                self.seen += known.sentences
            else:
                n, tokens = ing._store_for_model(known.id)
                g.count(summary, n, tokens)
                self.seen += n
        annotated = self.spacy.annotate([d.text for d in fresh], MAX_CHUNK_CHARS)
        while self.pending:
            self.collect()
        for doc, sentences in zip(fresh, annotated, strict=True):
            if self.limit_reached():
                break
            if self.stop is not None and self.stop():
                summary.stopped = g.summary.stopped = True
                break
            kept = [x for x in sentences if len(x.text) <= MAX_SENTENCE_CHARS]
            for s in (summary, g.summary):
                s.sentences_skipped += len(sentences) - len(kept)
            if not kept:
                g.error(summary, ReadError(doc.source, "has no sentence exbert can store"))
                continue
            rows = ing._model_rows([(x.text, x.words) for x in kept])
            self.ready.append((doc, kept, rows))
            self.seen += len(kept)
            if sum(len(k) for _, k, _ in self.ready) >= HOLD_SENTENCES:
                self.hand_over(g)
        self.hand_over(g)

    def hand_over(self, g: Group) -> None:
        """The ready documents to the writer, to be stored in one transaction."""
        if self.ready:
            n_sentences = [len(kept) for _, kept, _ in self.ready]
            future = self.writer.submit(self.ingestor._write_new, list(self.ready))
            self.pending.append((g, n_sentences, future))
            g.writes += 1
            self.ready.clear()

    def collect(self) -> None:
        """The oldest write handed over, waited for and counted."""
        g, n_sentences, future = self.pending.popleft()
        try:
            written = future.result()
        except Exception as err:
            raise GroupError(g.key) from err
        for n, tokens in zip(n_sentences, written, strict=True):
            g.count(self.summary, n, tokens)
        g.writes -= 1
        if g.closed:
            self.close(g)

    def close(self, g: Group) -> None:
        """The group is read whole: told once its last write has committed."""
        g.closed = True
        if g.writes == 0 and self.on_group is not None:
            g.summary.seconds = time.perf_counter() - g.started
            self.on_group(g.key, g.summary)


def groups_of(items: Iterable, size: int) -> Iterator[list]:
    group = []
    for item in items:
        group.append(item)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group
