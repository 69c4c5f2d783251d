"""The Explorer: one object per app or command that owns the settings, the store,
the model allow-list and the caches, and offers what a person can do."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from db import labels, stats
from db.reads import StoredSentence
from exbert.config import Settings
from explore import corpora, heads, sql
from explore.attention import AttentionView, AttentionViews
from explore.cache import LRU
from explore.errors import QueryTimeout, StoreUnavailable
from explore.models import ModelCatalog
from explore.search import SearchRequest, SearchResult, parse_request, search
from explore.sql import SQLResult
from explore.store import Store, describe

log = logging.getLogger(__name__)

# Hit sentences a process keeps (about 35 kB each with their tokens and words).
STORED_SENTENCES = 2000


class Explorer:
    def __init__(self, settings: Settings, extra_models: Sequence[str] = ()):
        self.settings = settings
        self.store = Store(settings)
        self.models = ModelCatalog(settings.model, self._stored_models, extra_models)
        self.views = AttentionViews(self.models, settings.spacy_model)
        # searches' hit sentences with tokens and words (~35 kB each): immutable once stored
        self.stored_sentences: LRU[StoredSentence] = LRU(STORED_SENTENCES)
        # a long-lived process (the app) builds a searched space's index (explore/indexing.py);
        # a CLI search would end before its build
        self.index_in_background = False

    def _stored_models(self) -> list[str]:
        try:
            with self.store.transaction() as s:
                return [m["name"] for m in stats.stored_models(s)]
        except (StoreUnavailable, QueryTimeout) as err:
            log.warning("%s", err)
            return []

    # -- a sentence --------------------------------------------------------------

    def attention(
        self, model: object, sentence: object, masks: object = (), words: bool = True
    ) -> AttentionView:
        return self.views.view(model, sentence, masks, words=words)

    # -- the corpus ----------------------------------------------------------------

    def parse_search(self, data: object) -> SearchRequest:
        return parse_request(data, self.models)

    def search(self, request: SearchRequest | dict) -> SearchResult:
        if not isinstance(request, SearchRequest):
            request = self.parse_search(request)
        return search(
            self.store, self.views, request, self.index_in_background, self.stored_sentences
        )

    def corpora(self) -> list[stats.CorpusModelCounts]:
        with self.store.transaction() as s:
            return stats.corpus_counts(s)

    def corpus_overview(self) -> list[corpora.CorpusRow]:
        """Corpora x models with their sizes (the Corpora page)."""
        return corpora.overview(self.store)

    def add_documents(self, corpus: object, model: object, layers: list[int] | None,
                      files: list[tuple[str, str]], pasted: str | None) -> tuple[int, list]:  # fmt: skip
        """Queue uploaded or pasted documents as an ingestion job (explore/corpora.py)."""
        return corpora.add_documents(self.store, self.models, corpus, model, layers, files, pasted)

    def jobs(self, limit: int = 20) -> list:
        return corpora.recent_jobs(self.store, limit)

    def cancel_job(self, job_id: object) -> None:
        corpora.cancel_job(self.store, job_id)

    def delete(self, corpus: object, model: object = None) -> str:
        """Remove a corpus, or one model's rows of it."""
        return corpora.delete(self.store, corpus, model)

    def distribution(self, corpus: object) -> dict[str, list[tuple[str, int]]]:
        return corpora.distribution(self.store, corpus)

    def labels(self) -> dict[str, list[str]]:
        """The annotation labels in the store, for filter menus."""
        with self.store.transaction() as s:
            known = labels.known_labels(s)
        return {kind: sorted(v for v in values if v) for kind, values in known.items()}

    def heads(self, corpus: object, model: object = None) -> dict:
        """The head atlas of a corpus (explore/heads.py)."""
        return heads.atlas(self.store, self.models, corpus, model)

    def head_examples(self, corpus: object, model: object, layer: object, head: object,
                      statistic: object, relation: object = "all",
                      direction: object = "dependent_to_head") -> list[heads.HeadExample]:  # fmt: skip
        """The sample sentences where one head shows a statistic most strongly."""
        return heads.examples(
            self.store, self.models, corpus, model, layer, head, statistic, relation, direction
        )

    def sql(self, query: object) -> SQLResult:
        """One read-only query as the role exbert_reader (explore/sql.py)."""
        from db.engine import ensure_database

        try:
            store_url = ensure_database(self.settings)
        except Exception as err:  # noqa: BLE001 - a server that does not start
            raise StoreUnavailable(describe(err)) from err
        return sql.run(self.settings, store_url, query)

    def warm(self) -> None:
        """Load the default model and spaCy now (a server's worker, before its first request)."""
        from exbert.annotate import load_spacy

        self.models.runner(self.models.default)
        load_spacy(self.settings.spacy_model)

    def health(self) -> dict:
        """Whether the store answers now (a live query under a short timeout)."""
        problem = self.store.available()
        return {"database": problem or "ok"}
