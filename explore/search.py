"""Corpus search: the tokens most like a token of a typed sentence, and what they have in common.

`parse_request` checks every field of a request (from JSON, a page or the
command line) with messages that say what to send; `search` runs the model on
the typed sentence (cached), builds the query vector (the layer's hidden
state, or the selected heads' contexts), asks the store for the nearest
tokens under SQL filters, and summarises the matches.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
from sqlalchemy.orm import Session

from db import labels, nearest, reads
from db.nearest import Filters, SearchError
from db.reads import StoredSentence
from exbert.vectors import context_query, unit
from explore import indexing
from explore.attention import AttentionViews
from explore.cache import LRU
from explore.errors import UserError
from explore.models import ModelCatalog
from explore.store import Store
from explore.summary import Match, max_attended, summarize

MAX_K = 1000
MAX_FILTER_VALUES = 50
MAX_LABEL = 64


@dataclass(frozen=True)
class SearchRequest:
    model: str
    corpus: str
    sentence: str
    token_index: int
    layer: int
    heads: tuple[int, ...] | None = None  # None: all heads
    by: str = "embedding"  # embedding | context
    k: int = 50
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)  # pos/tag/dep/ent_type
    exclude_own_sentence: bool = True
    exact: bool = False


@dataclass
class SearchResult:
    kind: str  # the model's: mlm | causal | encoder
    exact: bool  # whether an exact scan answered
    matches: list[Match]
    summary: dict
    seconds: float


def _int(value: object, name: str) -> int:
    """A JSON integer within 32 bits (as the page's URL state takes them)."""
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**31:
        raise UserError(f"{name} must be an integer.")
    return value


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise UserError(f"{name} must be true or false.")
    return value


def _text(value: object, name: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{name} must be {what}.")
    if "\x00" in value:
        raise UserError(f"{name} contains a NUL character; remove it.")
    return value


def parse_filters(filters: object) -> dict[str, tuple[str, ...]]:
    if filters is None:
        return {}
    if not isinstance(filters, dict):
        raise UserError('"filters" must be an object like {"pos": ["NOUN"]}.')
    clean = {}
    for key, values in filters.items():
        if key not in nearest.FILTER_COLUMNS:
            raise UserError(
                f"Unknown filter {str(key)[:40]!r}; use {', '.join(nearest.FILTER_COLUMNS)}."
            )
        if isinstance(values, str):
            values = [values]
        if values is None:
            values = []
        if (
            not isinstance(values, list)
            or len(values) > MAX_FILTER_VALUES
            or not all(
                isinstance(v, str) and len(v) <= MAX_LABEL and "\x00" not in v for v in values
            )
        ):
            raise UserError(
                f'filter "{key}" must be a list of at most {MAX_FILTER_VALUES} short labels.'
            )
        if values:
            clean[key] = tuple(dict.fromkeys(values))
    return clean


def parse_request(data: object, models: ModelCatalog) -> SearchRequest:
    """A request from JSON-like data, every field checked, with messages that say what to send."""
    if not isinstance(data, dict):
        raise UserError("Send a JSON object.")
    model = models.check(data.get("model"))
    corpus = _text(data.get("corpus"), '"corpus"', "the name of a stored corpus")
    sentence = _text(data.get("sentence"), '"sentence"', "a non-empty string")
    by = data.get("by", "embedding")
    if by not in ("embedding", "context"):
        raise UserError('"by" must be "embedding" or "context".')
    k = _int(data.get("k", 50), '"k"')
    if not 1 <= k <= MAX_K:
        raise UserError(f'"k" must be between 1 and {MAX_K}.')
    heads = data.get("heads")
    if heads is not None:
        if not isinstance(heads, list) or not all(
            isinstance(h, int) and not isinstance(h, bool) for h in heads
        ):
            raise UserError('"heads" must be a list of head numbers.')
        heads = tuple(dict.fromkeys(heads))
    return SearchRequest(
        model=model,
        corpus=corpus.strip(),
        sentence=sentence,
        token_index=_int(data.get("token_index"), '"token_index"'),
        layer=_int(data.get("layer", 0), '"layer"'),
        heads=heads,
        by=by,
        k=k,
        filters=parse_filters(data.get("filters")),
        exclude_own_sentence=_flag(
            data.get("exclude_own_sentence", True), '"exclude_own_sentence"'
        ),
        exact=_flag(data.get("exact", False), '"exact"'),
    )


def _check_labels(known: dict[str, set[str]], filters: dict) -> None:
    unknown = [(key, v) for key, values in filters.items() for v in values if v not in known[key]]
    if not unknown:
        return
    key, value = unknown[0]
    sample = ", ".join(sorted(x for x in known[key] if x)[:20])
    raise UserError(f"Unknown {key} label {value[:40]!r}; the corpus has: {sample}.")


def query_vector(request: SearchRequest, vectors: np.ndarray, heads: int) -> np.ndarray:
    """The query token's hidden state (`vectors`: the layer's), or the contexts of the
    request's heads (resolved: `search` fills in every head when none were chosen)."""
    if request.by == "embedding":
        return unit(vectors[request.token_index])
    return context_query(vectors[request.token_index], heads, request.heads)


def _hit_sentences(
    session: Session, model_id: int, ids: list[int], stored: LRU[StoredSentence] | None
) -> dict[int, StoredSentence]:
    """The hits' sentences with their tokens and words, from `stored` where it has them:
    a stored sentence never changes (its id is not reused), and reading and building ~50
    sentences' ~3,000 tokens and words was a third of a search."""
    if stored is None:
        return reads.sentences_with_tokens(session, model_id, ids)
    found = {sid: v for (_, sid), v in stored.known((model_id, i) for i in ids).items()}
    missing = [i for i in ids if i not in found]
    if missing:
        read = reads.sentences_with_tokens(session, model_id, missing)
        stored.put({(model_id, sid): v for sid, v in read.items()})
        found.update(read)
    return found


def search(
    store: Store,
    views: AttentionViews,
    request: SearchRequest,
    start_index: bool = False,
    stored: LRU[StoredSentence] | None = None,
) -> SearchResult:
    """One search; `start_index`: a search of a big space without an index starts its
    build (explore/indexing.py); `stored`: the hits' sentences read before, by (model id,
    sentence id)."""
    started = time.perf_counter()
    runner = views.models.runner(request.model)
    if not 0 <= request.layer < runner.layers:
        raise UserError(f'"layer" must be between 0 and {runner.layers - 1} for {request.model}.')
    heads = tuple(range(runner.heads)) if request.heads is None else request.heads
    if not heads or not all(0 <= h < runner.heads for h in heads):
        raise UserError(
            f'"heads" must be a non-empty list of heads between 0 and {runner.heads - 1}.'
        )
    kind = "hidden" if request.by == "embedding" else "context"
    # the model runs only as far as the searched layer, unless the sentence was analysed
    layer = views.layer_vectors(request.model, request.sentence, request.layer, kind)
    if (
        not 0 <= request.token_index < len(layer.tokens)
        or layer.tokens[request.token_index].is_special
    ):
        raise UserError(
            f'"token_index" must be the position of a word token (1 to {len(layer.tokens) - 1}, '
            "not special tokens)."
        )
    query = query_vector(replace(request, heads=heads), layer.vectors, runner.heads)
    filters = Filters(
        **request.filters,
        exclude_sentence=layer.text if request.exclude_own_sentence else None,
    )
    try:
        with store.transaction() as s:
            if request.filters:
                _check_labels(labels.known_labels(s), request.filters)
            space, corpus = nearest.locate(s, request.model, request.layer, kind, request.corpus)
            hits, exact = nearest.nearest(
                s, space, query, request.k, corpus, filters, exact=request.exact
            )
            build = start_index and indexing.wanted(store, s, space)
            sentences = _hit_sentences(s, space.model_id, [h.sentence_id for h in hits], stored)
            positions: dict[int, list[int]] = {}
            for h in hits:
                positions.setdefault(h.sentence_id, []).append(h.position)
            rows = reads.attention_rows(s, space.model_id, request.layer, positions, heads)
    except SearchError as err:
        raise UserError(str(err)) from err
    if build:
        indexing.build_in_background(store, space)
    scale = math.sqrt(runner.heads / len(heads)) if kind == "context" else 1.0
    matches = []
    for h in hits:
        sent = sentences[h.sentence_id]
        matches.append(
            Match(
                sentence_id=h.sentence_id,
                text=sent.text,
                document=sent.document,
                tokens=sent.tokens,
                match_index=h.position,
                max_attention_index=max_attended(
                    rows.get((h.sentence_id, h.position)), sent.tokens
                ),
                score=round((1.0 - h.distance) * scale, 5),
            )
        )
    return SearchResult(
        kind=runner.kind,
        exact=exact,
        matches=matches,
        summary=summarize(matches, causal=runner.kind == "causal"),
        seconds=time.perf_counter() - started,
    )
