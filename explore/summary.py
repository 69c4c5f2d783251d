"""What a search's matches have in common: their annotations, the tokens they attend
to most, and the offset between the two."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from exbert.shapes import Token, Word

FIELDS = ("pos", "dep", "ent_type")


@dataclass(frozen=True)
class Match:
    """One search result: a corpus token like the query, in its sentence."""

    sentence_id: int
    text: str  # the sentence
    document: str  # its document's source
    tokens: list[Token]
    match_index: int  # position of the matching token
    max_attention_index: int | None  # position of the word token it attends to most
    score: float  # cosine similarity (mean per-head cosine when searching by context)

    def token(self, position: int | None) -> Token | None:
        if position is None or not 0 <= position < len(self.tokens):
            return None
        return self.tokens[position]


def max_attended(row: np.ndarray | None, tokens: Sequence[Token]) -> int | None:
    """The word token a match attends to most (special tokens, which soak up attention, left out)."""
    if row is None:
        return None
    candidates = [t.position for t in tokens if not t.is_special and t.position < len(row)]
    if not candidates:
        return None
    return max(candidates, key=lambda p: (row[p], -p))


def label(word: Word | None, name: str) -> str:
    if word is None:
        return "(special)"
    return getattr(word, name) or ("(none)" if name == "ent_type" else "(blank)")


def summarize(matches: Sequence[Match], causal: bool) -> dict:
    """Counts of the matches' annotations, of their most-attended tokens', and of the offset between.

    A causal model's state at a token is about the token that follows it, so
    for it the "match" counts describe the following token, as exBERT does.
    """
    match = {name: Counter() for name in FIELDS}
    attended = {name: Counter() for name in FIELDS}
    offset = Counter()
    for m in matches:
        shown = m.token(m.match_index + (1 if causal else 0))
        if shown is not None:
            for name in FIELDS:
                match[name][label(shown.word, name)] += 1
        a = m.token(m.max_attention_index)
        if a is not None:
            for name in FIELDS:
                attended[name][label(a.word, name)] += 1
            offset[str(a.position - m.match_index)] += 1

    def ordered(c: Counter) -> dict:
        return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))

    return {
        "match": {name: ordered(c) for name, c in match.items()},
        "max_attention": {name: ordered(c) for name, c in attended.items()},
        "offset": dict(sorted(offset.items(), key=lambda kv: int(kv[0]))),
        "match_is_next_token": causal,
    }
