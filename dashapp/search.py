"""Corpus search: the tokens most like a token of a typed sentence, and what they have in common.

One function (`search`) serves the Attention page, `POST /api/search` and
`exbert search --json`: it runs the model on the typed sentence (cached), builds
the query vector (the layer's hidden state, or the selected heads' contexts),
asks the store for the nearest tokens under SQL filters, and summarises the
matches' annotations and the tokens they attend to most.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from dashapp import services
from db import search as store_search
from db.search import Filters
from exbert.vectors import context_query, unit

MAX_K = 1000
MAX_FILTER_VALUES = 50
SUMMARY_FIELDS = ("pos", "dep", "ent_type")


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
    filters: dict = field(default_factory=dict)  # pos/tag/dep/ent_type -> [labels]
    exclude_own_sentence: bool = True
    exact: bool = False


@dataclass
class SearchResult:
    request: SearchRequest
    kind: str  # the model's: mlm | causal | encoder
    exact: bool  # whether an exact scan answered
    results: list[dict]
    summary: dict
    seconds: float

    def to_json(self) -> dict:
        return {
            "results": self.results,
            "summary": self.summary,
            "exact": self.exact,
            "kind": self.kind,
            "seconds": round(self.seconds, 4),
        }


def _ints(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise services.UserError(f"{name} must be an integer.")
    return value


def parse_request(data: dict, allowed_models: Sequence[str]) -> SearchRequest:
    """A request from JSON-like data, every field checked, with messages that say what to send."""
    if not isinstance(data, dict):
        raise services.UserError("Send a JSON object.")
    model = services.check_model(data.get("model"), allowed_models)
    corpus = data.get("corpus")
    if not isinstance(corpus, str) or not corpus.strip():
        raise services.UserError('"corpus" must name a stored corpus.')
    sentence = data.get("sentence")
    if not isinstance(sentence, str) or not sentence.strip():
        raise services.UserError('"sentence" must be a non-empty string.')
    by = data.get("by", "embedding")
    if by not in ("embedding", "context"):
        raise services.UserError('"by" must be "embedding" or "context".')
    k = _ints(data.get("k", 50), '"k"')
    if not 1 <= k <= MAX_K:
        raise services.UserError(f'"k" must be between 1 and {MAX_K}.')
    heads = data.get("heads")
    if heads is not None:
        if not isinstance(heads, list) or not all(
            isinstance(h, int) and not isinstance(h, bool) for h in heads
        ):
            raise services.UserError('"heads" must be a list of head numbers.')
        heads = tuple(dict.fromkeys(heads))
    filters = data.get("filters") or {}
    if not isinstance(filters, dict):
        raise services.UserError('"filters" must be an object like {"pos": ["NOUN"]}.')
    clean = {}
    for key, values in filters.items():
        if key not in store_search.FILTER_COLUMNS:
            raise services.UserError(
                f"Unknown filter {str(key)[:40]!r}; use {', '.join(store_search.FILTER_COLUMNS)}."
            )
        if isinstance(values, str):
            values = [values]
        if (
            not isinstance(values, list)
            or len(values) > MAX_FILTER_VALUES
            or not all(isinstance(v, str) and len(v) <= 64 for v in values)
        ):
            raise services.UserError(
                f'filter "{key}" must be a list of at most {MAX_FILTER_VALUES} short labels.'
            )
        if values:
            clean[key] = tuple(values)
    return SearchRequest(
        model=model,
        corpus=corpus.strip(),
        sentence=sentence,
        token_index=_ints(data.get("token_index"), '"token_index"'),
        layer=_ints(data.get("layer", 0), '"layer"'),
        heads=heads,
        by=by,
        k=k,
        filters=clean,
        exclude_own_sentence=bool(data.get("exclude_own_sentence", True)),
        exact=bool(data.get("exact", False)),
    )


def known_labels(factory: sessionmaker[Session]) -> dict[str, set[str]]:
    """The store's annotation labels (the small `labels` table: a read costs about a millisecond)."""
    with factory.begin() as s:
        return store_search.known_labels(s)


def _check_labels(factory: sessionmaker[Session], filters: dict) -> None:
    known = known_labels(factory)
    unknown = [(key, v) for key, values in filters.items() for v in values if v not in known[key]]
    if not unknown:
        return
    key, value = unknown[0]
    sample = ", ".join(sorted(x for x in known[key] if x)[:20])
    raise services.UserError(f"Unknown {key} label {value[:40]!r}; the corpus has: {sample}.")


def query_vector(request: SearchRequest, analysis, heads: int) -> np.ndarray:
    if request.by == "embedding":
        return unit(analysis.hidden_states[request.layer + 1][request.token_index])
    return context_query(
        analysis.contexts[request.layer][request.token_index], heads, request.heads or range(heads)
    )


def search(factory: sessionmaker[Session], request: SearchRequest) -> SearchResult:
    started = time.perf_counter()
    analysis = services.model_run(request.model, request.sentence)
    view = services.attention_view(request.model, request.sentence, words=False)
    layers, n_heads = view.layers, view.heads
    if not 0 <= request.layer < layers:
        raise services.UserError(f'"layer" must be between 0 and {layers - 1} for {request.model}.')
    heads = tuple(range(n_heads)) if request.heads is None else request.heads
    if not heads or not all(0 <= h < n_heads for h in heads):
        raise services.UserError(
            f'"heads" must be a non-empty list of heads between 0 and {n_heads - 1}.'
        )
    if (
        not 0 <= request.token_index < len(view.tokens)
        or view.tokens[request.token_index].is_special
    ):
        raise services.UserError(
            f'"token_index" must be the position of a word token (1 to {len(view.tokens) - 1}, not special tokens).'
        )
    if request.filters:
        _check_labels(factory, request.filters)
    query = query_vector(SearchRequest(**{**request.__dict__, "heads": heads}), analysis, n_heads)
    kind = "hidden" if request.by == "embedding" else "context"
    filters = Filters(
        **{key: tuple(values) for key, values in request.filters.items()},
        exclude_sentence=view.sentence if request.exclude_own_sentence else None,
    )
    with factory.begin() as s:
        space = store_search.find_space(s, request.model, request.layer, kind)
        corpus = store_search.corpus_id(s, request.corpus)
        hits, exact = store_search.nearest(
            s, space, query, request.k, corpus, filters, exact=request.exact
        )
        sentences = store_search.sentences_with_tokens(
            s, space.model_id, [h.sentence_id for h in hits]
        )
        positions: dict[int, list[int]] = {}
        for h in hits:
            positions.setdefault(h.sentence_id, []).append(h.position)
        rows = store_search.attention_rows(s, space.model_id, request.layer, positions, heads)
    scale = math.sqrt(n_heads / len(heads)) if kind == "context" else 1.0
    results = []
    for h in hits:
        sent = sentences[h.sentence_id]
        row = rows.get((h.sentence_id, h.position))
        results.append(
            {
                "sentence_id": h.sentence_id,
                "text": sent.text,
                "document": sent.document,
                "tokens": sent.tokens,
                "match_index": h.position,
                "max_attention_index": max_attended(row, sent.tokens),
                "score": round((1.0 - h.distance) * scale, 5),
            }
        )
    return SearchResult(
        request=request,
        kind=view.kind,
        exact=exact,
        results=results,
        summary=summarize(results, causal=view.kind == "causal"),
        seconds=time.perf_counter() - started,
    )


def max_attended(row: np.ndarray | None, tokens: Sequence[dict]) -> int | None:
    """The word token a match attends to most (special tokens, which soak up attention, left out)."""
    if row is None:
        return None
    candidates = [t["position"] for t in tokens if not t["is_special"] and t["position"] < len(row)]
    if not candidates:
        return None
    return max(candidates, key=lambda p: (row[p], -p))


def _label(word: dict | None, name: str) -> str:
    if word is None:
        return "(special)"
    return word[name] or ("(none)" if name == "ent_type" else "(blank)")


def summarize(results: Sequence[dict], causal: bool) -> dict:
    """Counts of the matches' annotations, of their most-attended tokens', and of the offset between.

    A causal model's state at a token is about the token that follows it, so
    for it the "match" counts describe the following token, as exBERT does.
    """
    match = {name: Counter() for name in SUMMARY_FIELDS}
    attended = {name: Counter() for name in SUMMARY_FIELDS}
    offset = Counter()
    for r in results:
        tokens = {t["position"]: t for t in r["tokens"]}
        m = r["match_index"] + (1 if causal else 0)
        if m in tokens:
            for name in SUMMARY_FIELDS:
                match[name][_label(tokens[m]["word"], name)] += 1
        a = r["max_attention_index"]
        if a is not None:
            for name in SUMMARY_FIELDS:
                attended[name][_label(tokens[a]["word"], name)] += 1
            offset[str(a - r["match_index"])] += 1

    def ordered(c: Counter) -> dict:
        return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))

    return {
        "match": {name: ordered(c) for name, c in match.items()},
        "max_attention": {name: ordered(c) for name, c in attended.items()},
        "offset": dict(sorted(offset.items(), key=lambda kv: int(kv[0]))),
        "match_is_next_token": causal,
    }


def to_csv(result: SearchResult) -> str:
    """One row per match: its sentence, token, annotation, most-attended token and theirs."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "rank",
            "score",
            "sentence_id",
            "document",
            "sentence",
            "match_position",
            "match_token",
            "match_word",
            "match_lemma",
            "match_pos",
            "match_tag",
            "match_dep",
            "match_ent_type",
            "attended_position",
            "attended_token",
            "attended_word",
            "attended_pos",
            "attended_dep",
            "attended_ent_type",
            "offset",
        ]
    )
    for rank, r in enumerate(result.results, 1):
        tokens = {t["position"]: t for t in r["tokens"]}
        m = tokens[r["match_index"]]
        mw = m["word"] or {}
        a = tokens.get(r["max_attention_index"]) if r["max_attention_index"] is not None else None
        aw = (a or {}).get("word") or {}
        writer.writerow(
            [
                rank,
                r["score"],
                r["sentence_id"],
                r["document"],
                r["text"],
                r["match_index"],
                m["text"],
                mw.get("text"),
                mw.get("lemma"),
                mw.get("pos"),
                mw.get("tag"),
                mw.get("dep"),
                mw.get("ent_type"),
                None if a is None else a["position"],
                None if a is None else a["text"],
                aw.get("text"),
                aw.get("pos"),
                aw.get("dep"),
                aw.get("ent_type"),
                None if a is None else r["max_attention_index"] - r["match_index"],
            ]
        )
    return out.getvalue()
