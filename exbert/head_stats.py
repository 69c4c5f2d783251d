"""What each attention head does, counted over sentences: sums and counts that add up.

Kept as sums and counts (not means) so that a corpus's statistics stay exact as
documents arrive: the store adds each group's counts in the same transaction as
its documents (db/head_stats.py), and a mean is a sum over a count.

Per layer and head:
- positional: the attention each token pays to the previous token, the next, itself,
  the first position ([CLS]/BOS), the last ([SEP]/EOS) and to punctuation (spaCy's
  PUNCT), over every token, special ones included (no display choice applies);
- entropy of each token's attention, beside the uniform entropy over the keys it can
  see (all tokens; the earlier ones for a causal model);
- syntax, as Clark et al. (2019, "What Does BERT Look At?"): attention merged to
  words (summed over the attended word's pieces, averaged over the attending
  word's), each word's predicted word = the one it attends to most, itself and
  special tokens left out; a link counts as correct when the prediction is
  spaCy's dependency head (dependent -> head) or the dependent (head -> dependent),
  per relation and for all; beside it the fixed-offset baselines (-3..+3).
Ties go to the earlier word (numpy's argmax), so a count is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from exbert.shapes import Token, Word

POSITIONAL = ("previous", "next", "self", "first", "last", "punctuation")
STATISTICS = (*POSITIONAL, "entropy", "uniform_entropy")
DIRECTIONS = ("dependent_to_head", "head_to_dependent")
OFFSETS = (-3, -2, -1, 1, 2, 3)
ALL = "all"  # every relation together


@dataclass
class HeadCounts:
    """Sums and counts for some sentences of one model (zero sentences: nothing yet)."""

    layers: int
    heads: int
    sums: np.ndarray = None  # [layer, head, statistic] float64, STATISTICS order
    counts: np.ndarray = None  # [statistic] int64: what each sum is over (the same for every head)
    correct: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (rel, dir) -> [L, H]
    links: dict[tuple[str, str], int] = field(default_factory=dict)  # (relation, direction) -> n
    baseline: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # -> [offset] int64
    sentences: int = 0
    tokens: int = 0

    def __post_init__(self) -> None:
        if self.sums is None:
            self.sums = np.zeros((self.layers, self.heads, len(STATISTICS)))
        if self.counts is None:
            self.counts = np.zeros(len(STATISTICS), dtype=np.int64)

    def add(self, other: HeadCounts) -> HeadCounts:
        """These counts and `other`'s together (in place; returns self)."""
        self.sums += other.sums
        self.counts += other.counts
        for key, value in other.correct.items():
            self.correct[key] = self.correct.get(key, 0) + value
            self.links[key] = self.links.get(key, 0) + other.links[key]
            self.baseline[key] = self.baseline.get(key, 0) + other.baseline[key]
        self.sentences += other.sentences
        self.tokens += other.tokens
        return self

    def means(self) -> dict[str, np.ndarray]:
        """Each statistic's mean per [layer, head]."""
        return {
            name: self.sums[:, :, i] / max(int(self.counts[i]), 1)
            for i, name in enumerate(STATISTICS)
        }


def total(counts: Sequence[HeadCounts], layers: int, heads: int) -> HeadCounts:
    out = HeadCounts(layers, heads)
    for c in counts:
        out.add(c)
    return out


def _positional(levels: np.ndarray, punctuation: np.ndarray, causal: bool, top: int) -> tuple:
    """Sums [L, H, STATISTICS] and counts [STATISTICS] of one sentence's attention levels
    (weight = level / top): the positional sums in integers, the entropy by a table of
    p log p per level (a log per weight cost half of ingestion's counting time)."""
    layers, heads, n, _ = levels.shape
    sums = np.zeros((layers, heads, len(STATISTICS)))
    diagonal = np.arange(n)
    total = lambda picked, axes: picked.sum(axes, dtype=np.int64) / top  # noqa: E731
    if n > 1:
        sums[:, :, 0] = total(levels[:, :, diagonal[1:], diagonal[:-1]], -1)  # previous
        sums[:, :, 1] = total(levels[:, :, diagonal[:-1], diagonal[1:]], -1)  # next
    sums[:, :, 2] = total(levels[:, :, diagonal, diagonal], -1)  # self
    sums[:, :, 3] = total(levels[:, :, :, 0], -1)  # first
    sums[:, :, 4] = total(levels[:, :, :, n - 1], -1)  # last
    sums[:, :, 5] = total(levels[:, :, :, punctuation], (-1, -2))  # punctuation
    sums[:, :, 6] = -_plogp(top)[levels].sum((-1, -2))  # entropy
    visible = np.arange(1, n + 1) if causal else np.full(n, n)
    sums[:, :, 7] = np.log(visible).sum()  # uniform entropy
    counts = np.array([max(n - 1, 0), max(n - 1, 0), n, n, n, n, n, n], dtype=np.int64)
    return sums, counts


_TABLES: dict[int, np.ndarray] = {}


def _plogp(top: int) -> np.ndarray:
    """p log p of each level's weight p = level / top (0 for level 0)."""
    if top not in _TABLES:
        p = np.arange(top + 1) / top
        with np.errstate(divide="ignore", invalid="ignore"):
            _TABLES[top] = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return _TABLES[top]


def _word_attention(attention: np.ndarray, token_words: Sequence[int | None], words: int) -> tuple:
    """Attention between words: summed over the attended word's pieces, averaged over the
    attending word's. [L, H, W, W] in the units of `attention` (levels for the counts), and
    which words have pieces at all."""
    n = len(token_words)
    member = np.zeros((n, words), dtype=np.float32)
    for t, w in enumerate(token_words):
        if w is not None and w < words:
            member[t, w] = 1.0
    pieces = member.sum(0)
    # batched matmul (einsum's plain loop was 10x slower), in float32 on whole levels: sums
    # of levels are exact there, and a ratio to the piece count orders words as float64 does
    merged = member.T @ attention.astype(np.float32) @ member
    with np.errstate(divide="ignore", invalid="ignore"):
        merged = merged / np.where(pieces > 0, pieces, 1.0)[None, None, :, None]
    return merged, pieces > 0


def sentence_counts(
    levels: np.ndarray,
    tokens: Sequence[Token],
    words: Sequence[Word],
    causal: bool = False,
    syntax: bool = True,
    top: int = 255,
) -> HeadCounts:
    """The counts of one sentence: its attention as stored, uint8 `levels` [layer, head,
    T, T] with weight = level / `top` (so a recount from the store gives the same), and
    `tokens` linked to `words` (spaCy's, with heads and dependency labels); `syntax=False`
    counts only the positional and entropy statistics (what a cell's examples need)."""
    layers, heads, n, _ = levels.shape
    token_words = [t.word.index if t.word is not None else None for t in tokens[:n]]
    punctuation = np.array(
        [w is not None and words[w].pos == "PUNCT" for w in token_words], dtype=bool
    )
    sums, counts = _positional(levels, punctuation, causal, top)
    out = HeadCounts(layers, heads, sums, counts, sentences=1, tokens=n)
    links = [
        (w, word.head_index, word.dep.lower())
        for w, word in enumerate(words)
        if word.head_index != w and 0 <= word.head_index < len(words)
    ]
    if not syntax or not links:
        return out
    merged, present = _word_attention(levels, token_words, len(words))  # in levels: argmax only
    links = [(w, g, dep) for w, g, dep in links if present[w] and present[g]]  # the model saw both
    if not links:
        return out
    blocked = np.where(present, 0.0, -np.inf)  # words without pieces are never predicted
    dependents, governors = np.array([w for w, _, _ in links]), np.array([g for _, g, _ in links])
    relations = np.array([dep for _, _, dep in links])
    kinds = [(r, relations == r) for r in dict.fromkeys(relations)] + [(ALL, None)]
    for direction, source, target in (
        ("dependent_to_head", dependents, governors),
        ("head_to_dependent", governors, dependents),
    ):
        scores = merged[:, :, source, :] + blocked  # [L, H, links, W]
        scores[:, :, np.arange(len(source)), source] = -np.inf  # not itself
        right = np.argmax(scores, axis=-1) == target  # [L, H, links]
        baseline = source[:, None] + np.array(OFFSETS)[None, :] == target[:, None]
        for relation, mask in kinds:
            picked = slice(None) if mask is None else mask
            key = (str(relation), direction)
            out.correct[key] = right[:, :, picked].sum(-1, dtype=np.int64)
            out.links[key] = int(baseline[picked].shape[0])
            out.baseline[key] = baseline[picked].sum(0, dtype=np.int64)
    return out
