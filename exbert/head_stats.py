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


_TABLES: dict[int, np.ndarray] = {}


def _plogp_pairs(top: int) -> np.ndarray:
    """p log p of two adjacent levels at once, indexed by the pair read as one uint16: a
    table lookup per pair halves what the entropy costs (most of counting's time)."""
    if top not in _TABLES:
        p = np.arange(256) / top
        with np.errstate(divide="ignore", invalid="ignore"):
            single = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
        pairs = single[:, None] + single[None, :]  # symmetric: either byte order
        _TABLES[top] = pairs.ravel().astype(np.float32)  # float32: a table that stays in cache
    return _TABLES[top]


@dataclass
class _Sentence:
    """What counting needs of one sentence, read once from its tokens and words."""

    levels: np.ndarray  # [L, H, n, n] uint8
    token_words: list[int | None]  # each token's word (None: special)
    punctuation: np.ndarray  # [n] bool: the token belongs to a PUNCT word
    words: int
    links: list[tuple[int, int, str]]  # (dependent, head, relation), both words seen by the model


def _read(levels: np.ndarray, tokens: Sequence[Token], words: Sequence[Word]) -> _Sentence:
    n = levels.shape[-1]
    token_words = [t.word.index if t.word is not None else None for t in tokens[:n]]
    token_words = [w if w is not None and w < len(words) else None for w in token_words]
    punctuation = np.array([w is not None and words[w].pos == "PUNCT" for w in token_words])
    seen = {w for w in token_words if w is not None}
    links = [
        (w, word.head_index, word.dep.lower())
        for w, word in enumerate(words)
        if word.head_index != w and word.head_index in seen and w in seen
    ]
    return _Sentence(levels, token_words, punctuation.astype(bool), len(words), links)


def _chunks(sentences: Sequence[_Sentence], budget: int = 1 << 22) -> list[list[int]]:
    """Sentences of like length together (shortest first), so that padding them to one
    array wastes little and one chunk's levels stay within `budget` cells."""
    order = sorted(range(len(sentences)), key=lambda i: sentences[i].levels.shape[-1])
    chunks: list[list[int]] = []
    for i in order:
        n = sentences[i].levels.shape[-1]
        cells = sentences[i].levels[..., 0, 0].size * (n + 1) ** 2
        if chunks:
            last = chunks[-1]
            shortest = sentences[last[0]].levels.shape[-1]
            if n <= shortest + max(4, shortest // 4) and cells * (len(last) + 1) <= budget:
                last.append(i)
                continue
        chunks.append([i])
    return chunks


def _count_chunk(
    chunk: Sequence[_Sentence], causal: bool, syntax: bool, top: int, each: bool
) -> list[HeadCounts]:
    """The counts of a chunk's sentences, worked out on one padded array (zero levels pad
    every sentence to the longest, and a zero level adds nothing to any sum): one per
    sentence if `each`, else one for them all."""
    layers, heads = chunk[0].levels.shape[:2]
    lengths = np.array([s.levels.shape[-1] for s in chunk])
    b, n = len(chunk), int(lengths.max())
    n += n % 2  # an even row, read two levels at a time for the entropy
    levels = np.zeros((b, layers, heads, n, n), dtype=np.uint8)
    punctuation = np.zeros((b, n), dtype=bool)
    for i, s in enumerate(chunk):
        m = lengths[i]
        levels[i, :, :, :m, :m] = s.levels
        punctuation[i, :m] = s.punctuation
    sums = np.zeros((b, layers, heads, len(STATISTICS)))
    sums[..., 0] = np.diagonal(levels, -1, -2, -1).sum(-1, dtype=np.int64)  # previous
    sums[..., 1] = np.diagonal(levels, 1, -2, -1).sum(-1, dtype=np.int64)  # next
    sums[..., 2] = np.diagonal(levels, 0, -2, -1).sum(-1, dtype=np.int64)  # self
    columns = levels.sum(-2, dtype=np.int64)  # [b, L, H, n]: what each key receives
    sums[..., 3] = columns[..., 0]  # first
    sums[..., 4] = np.take_along_axis(columns, (lengths - 1)[:, None, None, None], -1)[..., 0]
    sums[..., 5] = (columns * punctuation[:, None, None, :]).sum(-1)  # punctuation
    sums[..., :6] /= top
    pairs = levels.view(np.uint16)  # little or big endian: the table is symmetric
    sums[..., 6] = -np.take(_plogp_pairs(top), pairs).sum((-1, -2), dtype=np.float64)
    log = np.log(np.arange(1, n + 1))
    uniform = np.cumsum(log)[lengths - 1] if causal else lengths * np.log(lengths)
    sums[..., 7] = uniform[:, None, None]
    counts = np.stack([lengths - 1] * 2 + [lengths] * 6, axis=1).astype(np.int64)  # [b, 8]
    if each:
        out = [
            HeadCounts(layers, heads, sums[i], counts[i], sentences=1, tokens=int(lengths[i]))
            for i in range(b)
        ]
    else:
        out = [
            HeadCounts(
                layers, heads, sums.sum(0), counts.sum(0), sentences=b, tokens=int(lengths.sum())
            )
        ]
    if syntax and any(s.links for s in chunk):
        _count_syntax(chunk, levels, out)
    return out


def _count_syntax(chunk: Sequence[_Sentence], levels: np.ndarray, out: list[HeadCounts]) -> None:
    """Clark et al.'s syntax counts, into `out` (one per sentence, or one for the chunk):
    attention merged to words by batched matmuls, each word's predicted word by argmax
    (ties: the earlier), words without pieces and the word itself never predicted."""
    b, n, w = len(chunk), levels.shape[-1], max(s.words for s in chunk)
    member = np.zeros((b, n, w), dtype=np.float32)
    for i, s in enumerate(chunk):
        for t, word in enumerate(s.token_words):
            if word is not None:
                member[i, t, word] = 1.0
    pieces = member.sum(1)  # [b, w]
    present = pieces > 0
    # float32 on whole levels: sums of levels are exact there, and a ratio to the piece
    # count orders words as float64 does
    merged = member.transpose(0, 2, 1)[:, None, None] @ levels.astype(np.float32)
    merged = merged @ member[:, None, None]  # [b, L, H, w, w]
    merged /= np.where(present, pieces, 1.0)[:, None, None, :, None]
    merged += np.where(present, 0.0, -np.inf).astype(np.float32)[:, None, None, None, :]
    words = np.arange(w)
    merged[..., words, words] = -np.inf  # nor a word itself
    predicted = np.argmax(merged, axis=-1)  # [b, L, H, w]: each word's most attended word
    owner = np.array([i for i, s in enumerate(chunk) for _ in s.links])
    dependents = np.array([d for s in chunk for d, _, _ in s.links])
    governors = np.array([g for s in chunk for _, g, _ in s.links])
    names, relation = np.unique([r for s in chunk for _, _, r in s.links], return_inverse=True)
    # which (sentence, relation) each link counts for, and (sentence, all)
    groups = len(out)
    mine = owner if groups > 1 else np.zeros_like(owner)
    by_relation = np.zeros((groups * len(names), len(owner)))
    by_relation[mine * len(names) + relation, np.arange(len(owner))] = 1.0
    by_all = np.zeros((groups, len(owner)))
    by_all[mine, np.arange(len(owner))] = 1.0
    layers, heads = levels.shape[1:3]
    for direction, source, target in (
        ("dependent_to_head", dependents, governors),
        ("head_to_dependent", governors, dependents),
    ):
        right = (predicted[owner, :, :, source] == target[:, None, None]).reshape(len(source), -1)
        baseline = source[:, None] + np.array(OFFSETS)[None, :] == target[:, None]
        for weights, keys in (
            (by_relation, [(g, str(name)) for g in range(groups) for name in names]),
            (by_all, [(g, ALL) for g in range(groups)]),
        ):
            correct = np.rint(weights @ right).astype(np.int64)  # counts: exact in float64
            hits = np.rint(weights @ baseline).astype(np.int64)
            links = np.rint(weights.sum(1)).astype(np.int64)
            for row, (g, name) in enumerate(keys):
                if links[row]:
                    key = (name, direction)
                    out[g].correct[key] = correct[row].reshape(layers, heads)
                    out[g].links[key] = int(links[row])
                    out[g].baseline[key] = hits[row]


def each_sentence_counts(
    sentences: Sequence[tuple[np.ndarray, Sequence[Token], Sequence[Word]]],
    causal: bool = False,
    syntax: bool = True,
    top: int = 255,
) -> list[HeadCounts]:
    """The counts of each sentence, in order: (uint8 `levels` [layer, head, T, T] with
    weight = level / `top`, so a recount from the store gives the same; `tokens` linked
    to `words`, spaCy's, with heads and dependency labels). Sentences of like length are
    counted together in one array: per sentence, numpy's call overhead was most of the
    time. `syntax=False` counts only the positional and entropy statistics."""
    read = [_read(levels, tokens, words) for levels, tokens, words in sentences]
    out: list[HeadCounts] = [None] * len(read)  # type: ignore[list-item]
    for chunk in _chunks(read):
        counted = _count_chunk([read[i] for i in chunk], causal, syntax, top, each=True)
        for i, counts in zip(chunk, counted, strict=True):
            out[i] = counts
    return out


def group_counts(
    sentences: Sequence[tuple[np.ndarray, Sequence[Token], Sequence[Word]]],
    layers: int,
    heads: int,
    causal: bool = False,
    top: int = 255,
) -> HeadCounts:
    """The counts of these sentences together (see `each_sentence_counts`)."""
    read = [_read(levels, tokens, words) for levels, tokens, words in sentences]
    out = HeadCounts(layers, heads)
    for chunk in _chunks(read):
        out.add(_count_chunk([read[i] for i in chunk], causal, True, top, each=False)[0])
    return out


def sentence_counts(
    levels: np.ndarray,
    tokens: Sequence[Token],
    words: Sequence[Word],
    causal: bool = False,
    syntax: bool = True,
    top: int = 255,
) -> HeadCounts:
    """The counts of one sentence (see `each_sentence_counts`)."""
    return each_sentence_counts([(levels, tokens, words)], causal, syntax, top)[0]
