"""Ingestion: documents -> sentences -> spaCy -> model -> store.

Each document is written in one transaction (so a killed run leaves no
partial document) and identified by its content hash (so the same content
twice is a no-op and a rerun completes what a killed run began). A document
already stored for another model is re-read from the store rather than
re-annotated.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
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

    def _model_rows(
        self, sentences: Sequence[tuple[int, str, Sequence[int], list]]
    ) -> list[SentenceModelRows]:
        """Run the model over (sentence_id, text, word_ids, words) and build rows to store."""
        rows = []
        for i in range(0, len(sentences), self.batch):
            chunk = sentences[i : i + self.batch]
            analyses = self.runner.analyze_batch([t for _, t, _, _ in chunk], predictions=False)
            for (sentence_id, _, word_ids, words), a in zip(chunk, analyses, strict=True):
                links = align(
                    [(t.start, t.end) for t in a.tokens], [t.is_special for t in a.tokens], words
                )
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
                rows.append(SentenceModelRows(sentence_id, word_ids, tokens, vectors, a.attentions))
        return rows

    def _store_new(self, doc: RawDocument, sentences: list[Sentence]) -> int:
        with self.sessions.begin() as s:
            store.lock_document(s, self.corpus_id, doc.content_hash)
            if store.find_document(s, self.corpus_id, doc.content_hash) is not None:
                return 0  # another process stored it meanwhile
            sentence_data = [(x.text, x.start, [_word_row(w) for w in x.words]) for x in sentences]
            doc_id, sentence_ids, word_ids = store.write_document(
                s, self.corpus_id, doc.source, doc.content_hash, doc.meta, sentence_data
            )
            todo = [
                (sid, x.text, wids, x.words)
                for sid, x, wids in zip(sentence_ids, sentences, word_ids, strict=True)
            ]
            return store.write_model_rows(s, self.model_id, doc_id, self._model_rows(todo))

    def _store_for_model(self, doc_id: int) -> tuple[int, int]:
        """Add this model to a document that is stored already: (sentences, tokens)."""
        with self.sessions.begin() as s:
            store.lock_document(s, self.corpus_id, f"doc:{doc_id}")
            if store.document_done(s, doc_id, self.model_id):
                return 0, 0
            todo = []
            for sid, text, words in store.sentence_rows(s, doc_id):
                rows = [w for _, w in words]
                todo.append((sid, text, [wid for wid, _ in words], _stored_words(rows, len(text))))
            return len(todo), store.write_model_rows(
                s, self.model_id, doc_id, self._model_rows(todo)
            )

    def run(
        self,
        documents: Iterable[RawDocument | ReadError],
        limit_sentences: int | None = None,
        progress: Callable[[IngestSummary], None] | None = None,
        group: int = 8,
    ) -> IngestSummary:
        """Ingest everything, or until `limit_sentences` sentences are in the corpus for this model."""
        summary = IngestSummary()
        started = time.perf_counter()
        seen = 0
        for batch in _groups(documents, group):
            docs = []
            for item in batch:
                if isinstance(item, ReadError):
                    summary.errors.append(item)
                else:
                    docs.append(item)
            fresh = []
            for doc in docs:
                with self.sessions.begin() as s:
                    doc_id = store.find_document(s, self.corpus_id, doc.content_hash)
                    done = doc_id is not None and store.document_done(s, doc_id, self.model_id)
                    stored = s.scalar(store.count_sentences_stmt(doc_id)) if doc_id else 0
                if done:
                    summary.documents_skipped += 1
                    seen += stored
                elif doc_id is not None:
                    n, tokens = self._store_for_model(doc_id)
                    summary.documents_added += 1
                    summary.sentences += n
                    summary.tokens += tokens
                    seen += n
                else:
                    fresh.append(doc)
            if fresh:
                for doc, sentences in zip(
                    fresh, annotate_documents([d.text for d in fresh], self.nlp), strict=True
                ):
                    kept = [x for x in sentences if len(x.text) <= MAX_SENTENCE_CHARS]
                    summary.sentences_skipped += len(sentences) - len(kept)
                    if not kept:
                        summary.errors.append(
                            ReadError(doc.source, "has no sentence exbert can store")
                        )
                        continue
                    tokens = self._store_new(doc, kept)
                    summary.documents_added += 1
                    summary.sentences += len(kept)
                    summary.tokens += tokens
                    seen += len(kept)
                    if limit_sentences is not None and seen >= limit_sentences:
                        break
            summary.seconds = time.perf_counter() - started
            if progress:
                progress(summary)
            if limit_sentences is not None and seen >= limit_sentences:
                break
        summary.seconds = time.perf_counter() - started
        return summary

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
