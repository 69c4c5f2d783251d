"""Every concept as JSON, in one place: the API, the CLI and the pages all write these.

A field means one thing everywhere: `head_index` is the position of a word's
syntactic head within its sentence, `head_text` that word's text; `position`
is a token's place in the model's input.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from db.stats import CorpusModelCounts
from exbert.shapes import Token, Word
from explore.attention import AttentionView
from explore.search import SearchResult
from explore.summary import Match


def word_json(word: Word | None) -> dict | None:
    # a copy of the instance's own dict (its fields, in order): a search's 50 sentences
    # have ~1,700 tokens, and field-by-field copies (dataclasses.asdict deep-copies) were
    # a third of /api/search's time
    return None if word is None else dict(word.__dict__)


def token_json(token: Token) -> dict:
    out = dict(token.__dict__)  # position, text, is_special, start, end, word
    out["word"] = word_json(token.word)
    return out


def attention_json(view: AttentionView, attentions: bool = True) -> dict:
    """POST /api/attention and `exbert analyze`. The attention matrices stay a numpy
    array, which the app's JSON provider (orjson) writes fast."""
    out = {
        "model": view.model,
        "kind": view.kind,
        "layers": view.layers,
        "heads": view.heads,
        "sentence": view.sentence,
        "truncated": view.truncated,
        "masks": list(view.masks),
        "prediction_label": view.prediction_label,
        "tokens": [{**token_json(t), "masked": view.masked(t.position)} for t in view.tokens],
        "predictions": None
        if not view.has_predictions
        else [
            [{"token": tok, "prob": round(p, 6)} for tok, p in view.token_predictions(t.position)]
            for t in view.tokens
        ],
    }
    if attentions:
        out["attentions"] = np.round(view.attentions.astype(np.float64), 5)
    return out


def match_json(match: Match) -> dict:
    return {
        "sentence_id": match.sentence_id,
        "text": match.text,
        "document": match.document,
        "tokens": [token_json(t) for t in match.tokens],
        "match_index": match.match_index,
        "max_attention_index": match.max_attention_index,
        "score": match.score,
    }


def search_json(result: SearchResult) -> dict:
    """POST /api/search and `exbert search --json`."""
    return {
        "results": [match_json(m) for m in result.matches],
        "summary": result.summary,
        "exact": result.exact,
        "kind": result.kind,
        "seconds": round(result.seconds, 4),
    }


def corpus_json(counts: CorpusModelCounts) -> dict:
    return asdict(counts)
