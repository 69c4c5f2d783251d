"""Ingestion: documents -> sentences -> spaCy -> model -> store.

The text side is ingest/text.py, a run's machinery (groups in flight, their counts)
ingest/groups.py; this module holds the `Ingestor`: the model's rows and the writes.

Each document is written within one transaction, with the others of its group
(so a killed run leaves no partial document), and identified by its content
hash (so the same content twice is a no-op and a rerun completes what a killed
run began). A document already stored for another model is re-read from the
store rather than re-annotated.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.orm import Session, sessionmaker

from db import attention_codec, head_stats, indexes, labels, reads, writes
from db.writes import SentenceIds, SentenceModelRows
from exbert.annotate import link_words, load_spacy
from exbert.head_stats import HeadCounts, group_counts
from exbert.model import ModelRunner
from exbert.shapes import Sentence, Word
from exbert.vectors import half_unit
from ingest.groups import Group, GroupError, IngestSummary, Run, groups_of
from ingest.readers import RawDocument, ReadError
from ingest.spacy_process import SpacyHelper


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
        self.codes: dict[tuple[str, str], int] = {}  # label codes, see db/labels.py
        with self.sessions.begin() as s:
            self.corpus_id = writes.ensure_corpus(s, corpus, description)
            self.model_id = writes.ensure_model(
                s,
                runner.name,
                runner.kind,
                runner.layers,
                runner.heads,
                runner.hidden_size,
                runner.context_dim,
            )
            self.spaces = writes.ensure_spaces(
                s,
                self.model_id,
                self.layers,
                {"hidden": runner.hidden_size, "context": runner.context_dim},
            )

    # -- per document ----------------------------------------------------------

    def _model_rows(self, sentences: Sequence[tuple[str, list[Word]]]) -> list[SentenceModelRows]:
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
                text, words = sentences[i]
                tokens = link_words(a.tokens, words, len(text))
                hidden = half_unit(a.hidden_states[1:])  # [layer, token, dim]
                contexts = half_unit(a.contexts, self.runner.heads)
                vectors = {}
                for layer in self.layers:
                    vectors[self.spaces[(layer, "hidden")]] = hidden[layer]
                    vectors[self.spaces[(layer, "context")]] = contexts[layer]
                rows[i] = SentenceModelRows(
                    tokens, vectors, attention_codec.to_levels(a.attentions)
                )
        return rows

    def _counts(
        self, rows: Sequence[SentenceModelRows], words: Sequence[Sequence[Word]]
    ) -> HeadCounts:
        """The head statistics of these sentences, from their attention as stored (so a
        recount from the store equals them). Done by the writer, beside spaCy, not in the
        model's turn: it cost a tenth of the floor there."""
        return group_counts(
            [(row.attentions, row.tokens, w) for row, w in zip(rows, words, strict=True)],
            self.runner.layers,
            self.runner.heads,
            self.runner.kind == "causal",
            top=attention_codec.LEVELS,
        )

    def _codes(self, sentences: Sequence[Sequence[Word]]) -> list:
        """Each sentence's [words, 4] label codes; new labels are committed first."""
        needed = {p for words in sentences for p in labels.word_label_pairs(words)}
        if not needed <= self.codes.keys():
            with self.sessions.begin() as s:
                self.codes = labels.label_codes(s, needed)
        return [labels.word_code_rows(words, self.codes) for words in sentences]

    def _write_new(
        self,
        items: Sequence[tuple[RawDocument, list[Sentence], list[SentenceModelRows]]],
    ) -> list[int]:
        """Write new documents (document, sentences, model rows) with this model's rows
        in one transaction: tokens written per document, 0 for one already stored
        (by another process meanwhile, or earlier in `items`)."""
        codes = self._codes([x.words for _, kept, _ in items for x in kept])
        first = [0]  # where each document's sentences start in `codes`
        for _, kept, _ in items:
            first.append(first[-1] + len(kept))
        with self.sessions.begin() as s:
            writes.skip_flush_wait(s)
            hashes = [doc.content_hash for doc, _, _ in items]
            writes.lock_documents(s, self.corpus_id, hashes)
            taken = writes.stored_hashes(s, self.corpus_id, hashes)
            todo = []
            for i, content_hash in enumerate(hashes):
                if content_hash not in taken:
                    taken.add(content_hash)
                    todo.append(i)
            if not todo:
                return [0] * len(items)
            written = writes.write_documents(
                s,
                self.corpus_id,
                [
                    writes.NewDocument(items[i][0].source, hashes[i], items[i][0].meta, items[i][1])
                    for i in todo
                ],
            )
            where, rows, words = [], [], []
            for i, doc in zip(todo, written, strict=True):
                for sid, wids, sentence_codes in zip(
                    doc.sentence_ids, doc.word_ids, codes[first[i] : first[i + 1]], strict=True
                ):
                    where.append(SentenceIds(doc.id, sid, wids, sentence_codes))
                rows += items[i][2]
                words += [x.words for x in items[i][1]]
            writes.write_model_rows(s, self.model_id, self.corpus_id, where, rows, counted=True)
            counts = self._counts(rows, words)
            head_stats.add(s, self.corpus_id, self.model_id, counts)
        tokens = [0] * len(items)
        for i in todo:
            tokens[i] = sum(len(r.tokens) for r in items[i][2])
        return tokens

    def _store_for_model(self, doc_id: int) -> tuple[int, int]:
        """Add this model to a document that is stored already: (sentences, tokens written;
        0 if another process or this group did it first)."""
        with self.sessions.begin() as s:
            stored = reads.document_sentences(s, doc_id)
        rows = self._model_rows([(text, words) for _, text, _, words in stored])
        codes = self._codes([words for _, _, _, words in stored])
        with self.sessions.begin() as s:
            writes.skip_flush_wait(s)
            writes.lock_documents(s, self.corpus_id, [f"doc:{doc_id}"])
            if writes.document_done(s, doc_id, self.model_id):  # meanwhile, or earlier
                return len(stored), 0
            where = [
                SentenceIds(doc_id, sid, wids, c)
                for (sid, _, wids, _), c in zip(stored, codes, strict=True)
            ]
            tokens = writes.write_model_rows(
                s, self.model_id, self.corpus_id, where, rows, counted=True
            )
            counts = self._counts(rows, [words for _, _, _, words in stored])
            head_stats.add(s, self.corpus_id, self.model_id, counts)
            return len(stored), tokens

    def run(
        self,
        documents: Iterable[RawDocument | ReadError],
        limit_sentences: int | None = None,
        progress: Callable[[IngestSummary], None] | None = None,
        group: int = 8,
        stop: Callable[[], bool] | None = None,
    ) -> IngestSummary:
        """Ingest everything, or until `limit_sentences` sentences are in the corpus for this model.

        Documents go in groups of `group`, each written in one transaction (fewer
        statements; every document is still wholly there or absent); see `run_groups`.
        `stop()`, asked before each document, ends the run there (what was read before is
        stored whole; `summary.stopped` says so).
        """
        try:
            return self.run_groups(
                enumerate(groups_of(documents, group)), limit_sentences, progress, stop
            )
        except GroupError as err:
            raise err.__cause__ from None

    def run_groups(
        self,
        groups: Iterable[tuple[Hashable, Sequence[RawDocument | ReadError]]],
        limit_sentences: int | None = None,
        progress: Callable[[IngestSummary], None] | None = None,
        stop: Callable[[], bool] | None = None,
        on_group: Callable[[Hashable, IngestSummary], None] | None = None,
    ) -> IngestSummary:
        """Ingest (key, documents) groups, each written in one transaction, and tell
        `on_group(key, its own summary)` once a group's writes have committed (a worker's
        tasks: it finishes a task only then). The next group is taken from `groups` while
        the last one is being written (a worker claims its next task then).

        A writer thread stores one group while spaCy reads the next (spaCy uses one core,
        the writer and the server the other; spaCy in a helper process after the first
        group, ingest/spacy_process.py); the model then runs alone, since sharing both
        cores with the writes slowed its forward pass by twice what they took
        (docs/benchmarks.md). At most HOLD_SENTENCES sentences' rows wait to be written,
        so big documents are handed over as they are ready. A failure while a group is
        read or written is raised as GroupError(its key), after the writes of the groups
        before it are collected.
        """
        run = Run(self, limit_sentences, stop, on_group)
        with (
            SpacyHelper(self.nlp) as run.spacy,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="exbert-writer") as run.writer,
        ):
            try:
                for key, batch in groups:
                    run.read_group(Group(key), batch)
                    run.summary.seconds = time.perf_counter() - run.started
                    if progress:
                        progress(run.summary)
                    if run.summary.stopped or run.limit_reached():
                        break
            finally:
                while run.pending:  # what was handed over is committed whatever comes after
                    run.collect()
        run.summary.seconds = time.perf_counter() - run.started
        return run.summary

    def _stored(self, batch: Sequence[RawDocument | ReadError]) -> dict[str, writes.StoredDocument]:
        """The group's documents the corpus holds already, by content hash."""
        hashes = [d.content_hash for d in batch if not isinstance(d, ReadError)]
        if not hashes:
            return {}
        with self.sessions.begin() as s:
            return writes.stored_documents(s, self.corpus_id, self.model_id, hashes)

    def build_indexes(
        self,
        plan: indexes.IndexPlan = indexes.AT_INGESTION,
        min_rows: int | None = None,
    ) -> list[int]:
        """The indexes `plan` wants at ingestion (EXBERT_INDEX): none unless it says when
        == "ingest"."""
        if plan.when != "ingest":
            return []
        with self.sessions.begin() as s:
            return indexes.ensure_indexes(s, self.model_id, min_rows, plan)
