"""Ingestion: documents -> sentences -> spaCy -> model -> store.

Each document is written in one transaction (so a killed run leaves no
partial document) and identified by its content hash (so the same content
twice is a no-op and a rerun completes what a killed run began). A document
already stored for another model is re-read from the store rather than
re-annotated.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from db import store
from db.store import SentenceModelRows, TokenRow, WordRow
from exbert.annotate import Sentence, Word, align, load_spacy, split_sentences
from exbert.model import ModelRunner
from exbert.vectors import unit, unit_heads
from ingest.readers import RawDocument, ReadError

# Sentences longer than this are not stored: nobody reads them as one
# sentence, and a 1 MB line would otherwise become one giant "sentence".
MAX_SENTENCE_CHARS = 2_000
# spaCy refuses texts over nlp.max_length (1M characters); longer documents
# are annotated in pieces cut at line breaks or spaces.
MAX_CHUNK_CHARS = 100_000


@dataclass
class IngestSummary:
    documents_added: int = 0
    documents_skipped: int = 0
    sentences: int = 0
    sentences_skipped: int = 0
    tokens: int = 0
    seconds: float = 0.0
    errors: list[ReadError] = field(default_factory=list)

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


def chunk_text(text: str, limit: int = MAX_CHUNK_CHARS) -> list[tuple[int, str]]:
    """Split a long text into (offset, piece) at line breaks, else spaces, else anywhere."""
    pieces, start = [], 0
    while len(text) - start > limit:
        window = text[start : start + limit]
        cut = max(window.rfind("\n"), window.rfind(". "))
        if cut < limit // 2:
            cut = window.rfind(" ")
        cut = limit if cut <= 0 else cut + 1
        pieces.append((start, text[start : start + cut]))
        start += cut
    pieces.append((start, text[start:]))
    return pieces


def annotate_documents(texts: Sequence[str], nlp) -> list[list[Sentence]]:
    """Sentences of each document, chunked where spaCy would refuse the length."""
    out = []
    for text in texts:
        sentences: list[Sentence] = []
        chunks = chunk_text(text)
        for (offset, _), chunk_sentences in zip(
            chunks, split_sentences([c for _, c in chunks], nlp), strict=True
        ):
            sentences.extend(Sentence(s.text, s.start + offset, s.words) for s in chunk_sentences)
        out.append(sentences)
    return out


def _word_row(w: Word) -> WordRow:
    return WordRow(
        w.index,
        w.text,
        w.lemma,
        w.pos,
        w.tag,
        w.dep,
        w.head,
        w.ent_type,
        w.ent_iob,
        w.is_stop,
        w.start,
        w.end,
    )


class _WordView:
    """Stored words in the shape `align` needs (start, end, end_ws, index)."""

    def __init__(self, row: WordRow, sentence_length: int, next_start: int | None):
        self.index, self.start, self.end = row.index, row.start_char, row.end_char
        self.end_ws = next_start if next_start is not None else sentence_length


def _stored_words(rows: Sequence[WordRow], sentence_length: int) -> list[_WordView]:
    starts = [r.start_char for r in rows[1:]] + [None]
    return [_WordView(r, sentence_length, s) for r, s in zip(rows, starts, strict=True)]


class Ingestor:
    """Ingest documents into one corpus with one model."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        runner: ModelRunner,
        corpus: str,
        layers: Sequence[int] | None = None,
        batch_sentences: int = 32,
        nlp=None,
        description: str = "",
    ):
        self.sessions = session_factory
        self.runner = runner
        self.layers = sorted(set(range(runner.layers) if layers is None else layers))
        bad = [layer for layer in self.layers if not 0 <= layer < runner.layers]
        if bad:
            raise ValueError(
                f"Layers {bad} are out of range: {runner.name} has layers 0-{runner.layers - 1}."
            )
        self.batch = batch_sentences
        self.nlp = nlp or load_spacy()
        self.codes: dict[tuple[str, str], int] = {}  # label codes, see store.label_codes
        with self.sessions.begin() as s:
            self.corpus_id = store.ensure_corpus(s, corpus, description)
            self.model_id = store.ensure_model(
                s,
                runner.name,
                runner.kind,
                runner.layers,
                runner.heads,
                runner.hidden_size,
                runner.context_dim,
            )
            self.spaces = store.ensure_spaces(
                s,
                self.model_id,
                self.layers,
                {"hidden": runner.hidden_size, "context": runner.context_dim},
            )

    # -- per document ----------------------------------------------------------

    def _model_rows(self, sentences: Sequence[tuple[str, list]]) -> list[SentenceModelRows]:
        """Run the model over (text, words) pairs and build the rows to store, in order.

        Sentences are batched by length, so a batch pads little.
        """
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i][0]))
        rows: list[SentenceModelRows | None] = [None] * len(sentences)
        for start in range(0, len(order), self.batch):
            chunk = order[start : start + self.batch]
            analyses = self.runner.analyze_batch(
                [sentences[i][0] for i in chunk], predictions=False
            )
            for i, a in zip(chunk, analyses, strict=True):
                words = sentences[i][1]
                spans = [(t.start, t.end) for t in a.tokens]
                links = align(spans, [t.is_special for t in a.tokens], words)
                tokens = [
                    TokenRow(p, t.text, link, t.is_special, t.start, t.end)
                    for p, (t, link) in enumerate(zip(a.tokens, links, strict=True))
                ]
                vectors = {}
                for layer in self.layers:
                    vectors[self.spaces[(layer, "hidden")]] = unit(a.hidden_states[layer + 1])
                    vectors[self.spaces[(layer, "context")]] = unit_heads(
                        a.contexts[layer], self.runner.heads
                    )
                rows[i] = SentenceModelRows(tokens, vectors, a.attentions)
        return rows

    def _codes(self, sentences: Sequence[Sequence[WordRow]]) -> list:
        """Each sentence's [words, 4] label codes; new labels are committed first."""
        needed = {p for words in sentences for p in store.word_label_pairs(words)}
        if not needed <= self.codes.keys():
            with self.sessions.begin() as s:
                self.codes = store.label_codes(s, needed)
        return [store.word_code_rows(words, self.codes) for words in sentences]

    def _write_new(
        self, doc: RawDocument, sentences: list[Sentence], rows: list[SentenceModelRows]
    ) -> int:
        """Write a new document with this model's rows in one transaction; tokens written."""
        sentence_data = [(x.text, x.start, [_word_row(w) for w in x.words]) for x in sentences]
        codes = self._codes([words for _, _, words in sentence_data])
        with self.sessions.begin() as s:
            store.fast_commit(s)
            store.lock_document(s, self.corpus_id, doc.content_hash)
            if store.find_document(s, self.corpus_id, doc.content_hash) is not None:
                return 0  # another process stored it meanwhile
            doc_id, sentence_ids, word_ids = store.write_document(
                s, self.corpus_id, doc.source, doc.content_hash, doc.meta, sentence_data
            )
            return store.write_model_rows(
                s, self.model_id, self.corpus_id, doc_id, sentence_ids, word_ids, codes, rows
            )

    def _store_for_model(self, doc_id: int) -> tuple[int, int]:
        """Add this model to a document that is stored already: (sentences, tokens)."""
        with self.sessions.begin() as s:
            stored = store.sentence_rows(s, doc_id)
        todo = [
            (text, _stored_words([w for _, w in words], len(text))) for _, text, words in stored
        ]
        rows = self._model_rows(todo)
        codes = self._codes([[w for _, w in words] for _, _, words in stored])
        with self.sessions.begin() as s:
            store.fast_commit(s)
            store.lock_document(s, self.corpus_id, f"doc:{doc_id}")
            if store.document_done(s, doc_id, self.model_id):
                return 0, 0
            sentence_ids = [sid for sid, _, _ in stored]
            word_ids = [[wid for wid, _ in words] for _, _, words in stored]
            tokens = store.write_model_rows(
                s, self.model_id, self.corpus_id, doc_id, sentence_ids, word_ids, codes, rows
            )
            return len(stored), tokens

    def run(
        self,
        documents: Iterable[RawDocument | ReadError],
        limit_sentences: int | None = None,
        progress: Callable[[IngestSummary], None] | None = None,
        group: int = 8,
    ) -> IngestSummary:
        """Ingest everything, or until `limit_sentences` sentences are in the corpus for this model.

        A writer thread stores one document while spaCy and the model work on
        the next; at most two documents wait to be written.
        """
        summary = IngestSummary()
        started = time.perf_counter()
        seen = 0  # sentences of this corpus stored for this model, for --limit
        pending: deque[tuple[int, Future]] = deque()

        def collect() -> None:
            n_sentences, future = pending.popleft()
            tokens = future.result()
            if tokens:
                summary.documents_added += 1
                summary.sentences += n_sentences
                summary.tokens += tokens
            else:
                summary.documents_skipped += 1  # another process stored it meanwhile

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="exbert-writer") as writer:
            for batch in _groups(documents, group):
                fresh = []
                for item in batch:
                    if isinstance(item, ReadError):
                        summary.errors.append(item)
                        continue
                    status, stored = self._status(item)
                    if status == "done":
                        summary.documents_skipped += 1
                        seen += stored
                    elif status == "other-model":
                        n, tokens = self._store_for_model(stored)
                        summary.documents_added += 1
                        summary.sentences += n
                        summary.tokens += tokens
                        seen += n
                    else:
                        fresh.append(item)
                texts = [d.text for d in fresh]
                for doc, sentences in zip(fresh, annotate_documents(texts, self.nlp), strict=True):
                    if limit_sentences is not None and seen >= limit_sentences:
                        break
                    kept = [x for x in sentences if len(x.text) <= MAX_SENTENCE_CHARS]
                    summary.sentences_skipped += len(sentences) - len(kept)
                    if not kept:
                        summary.errors.append(
                            ReadError(doc.source, "has no sentence exbert can store")
                        )
                        continue
                    rows = self._model_rows([(x.text, x.words) for x in kept])
                    while len(pending) >= 2:
                        collect()
                    pending.append((len(kept), writer.submit(self._write_new, doc, kept, rows)))
                    seen += len(kept)
                summary.seconds = time.perf_counter() - started
                if progress:
                    progress(summary)
                if limit_sentences is not None and seen >= limit_sentences:
                    break
            while pending:
                collect()
        summary.seconds = time.perf_counter() - started
        return summary

    def _status(self, doc: RawDocument) -> tuple[str, int]:
        """('done', sentences) | ('other-model', document id) | ('new', 0)."""
        with self.sessions.begin() as s:
            doc_id = store.find_document(s, self.corpus_id, doc.content_hash)
            if doc_id is None:
                return "new", 0
            if store.document_done(s, doc_id, self.model_id):
                return "done", s.scalar(store.count_sentences_stmt(doc_id))
            return "other-model", doc_id

    def build_indexes(self, min_rows: int = store.HNSW_MIN_ROWS) -> list[int]:
        with self.sessions.begin() as s:
            return store.ensure_indexes(s, self.model_id, min_rows)


def _groups(items: Iterable, size: int) -> Iterator[list]:
    group = []
    for item in items:
        group.append(item)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group
