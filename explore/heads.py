"""The head atlas: what each head does over a corpus, and the sentences that show it.

The statistics are precomputed sums and counts (exbert/head_stats.py,
db/head_stats.py), so the atlas of a corpus of any size is a read of about a
hundred rows. The sentences behind a cell are found by recounting one head on a
fixed sample of the corpus's sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from db import attention_codec, head_stats, reads
from exbert.head_stats import ALL, DIRECTIONS, POSITIONAL, STATISTICS, each_sentence_counts
from explore.errors import UserError
from explore.models import ModelCatalog
from explore.store import Store

SAMPLE = 200  # sentences recounted for a cell's examples
DEPENDENCY = "dependency"


@dataclass(frozen=True)
class HeadExample:
    sentence_id: int
    text: str
    score: float  # the head's statistic in this sentence (correct links, for dependency)
    detail: str


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip() or "\x00" in value or len(value) > 500:
        raise UserError(f'"{name}" must name a stored {name}.')
    return value.strip()


def _ids(session, corpus: str, model: str) -> tuple[int, int, int, int, str]:
    row = session.execute(
        text("SELECT id, layers, heads, kind FROM models WHERE name = :m"), {"m": model}
    ).first()
    if row is None:
        raise UserError(f"No model {model[:100]!r} in the store; ingest a corpus with it first.")
    corpus_id = session.scalar(text("SELECT id FROM corpora WHERE name = :c"), {"c": corpus})
    if corpus_id is None:
        raise UserError(f"No corpus named {corpus[:100]!r}.")
    return corpus_id, row[0], row[1], row[2], row[3]


def atlas(store: Store, models: ModelCatalog, corpus: object, model: object) -> dict:
    """GET /api/heads and `exbert heads --json`: every statistic, layer-major [layer][head]."""
    corpus = _text(corpus, "corpus")
    model = models.check(model)
    with store.transaction() as s:
        corpus_id, model_id, layers, heads, _ = _ids(s, corpus, model)
        stored = head_stats.read(s, corpus_id, model_id, layers, heads)
    if stored.sentences == 0:
        raise UserError(
            f"No head statistics for {corpus!r} with {model}: nothing of it is stored for that "
            f"model, or it was stored before statistics were counted (run: exbert heads "
            f"--corpus {corpus} --model {model} --backfill)."
        )
    dependency = {}
    for relation, grids in sorted(stored.accuracy.items()):
        baselines = stored.baseline.get(relation, {})
        dependency[relation] = {
            **{d: _rounded(grids[d]) for d in DIRECTIONS},
            "baseline": round(max(baselines.values(), default=0.0), 6),
            "baselines": {
                d: {
                    "accuracy": round(baselines.get(d, 0.0), 6),
                    "offset": stored.best_offset.get(relation, {}).get(d),
                }
                for d in DIRECTIONS
            },  # fmt: skip
            "count": stored.links.get(relation, 0),
        }
    return {
        "model": model,
        "corpus": corpus,
        "layers": layers,
        "heads": heads,
        "sentences": stored.sentences,
        "tokens": stored.tokens,
        "stats": {name: _rounded(stored.means[name]) for name in STATISTICS},
        "dependency": dependency,
    }


def _rounded(grid) -> list[list[float]]:
    return [[round(float(v), 6) for v in row] for row in grid]


def examples(
    store: Store,
    models: ModelCatalog,
    corpus: object,
    model: object,
    layer: object,
    head: object,
    statistic: object,
    relation: object = ALL,
    direction: object = DIRECTIONS[0],
    n: int = 10,
) -> list[HeadExample]:
    """The sentences of a fixed sample where one head shows a statistic most strongly: the
    highest share on the previous token, the lowest entropy, the most correct det links."""
    corpus = _text(corpus, "corpus")
    model = models.check(model)
    if statistic not in (*STATISTICS, DEPENDENCY) or statistic == "uniform_entropy":
        raise UserError(
            f"Unknown statistic {str(statistic)[:40]!r}; use {', '.join((*POSITIONAL, 'entropy', DEPENDENCY))}."
        )
    if statistic == DEPENDENCY and direction not in DIRECTIONS:
        raise UserError(f'"direction" must be {" or ".join(DIRECTIONS)}.')
    with store.transaction() as s:
        corpus_id, model_id, layers, heads, kind = _ids(s, corpus, model)
        for value, name, top in ((layer, "layer", layers), (head, "head", heads)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < top:
                raise UserError(f'"{name}" must be between 0 and {top - 1}.')
        sample = reads.sample_sentences(s, corpus_id, model_id, SAMPLE)
        ids = [sid for sid, _ in sample]
        attention = reads.layer_attention(s, model_id, layer, ids)
        tokens = reads.sentences_with_tokens(s, model_id, ids)
        words = reads.sentence_words(s, ids)
    found = [(sid, sentence) for sid, sentence in sample if sid in attention and sid in tokens]
    one_head = [
        (attention[sid][head : head + 1][None], tokens[sid].tokens, words.get(sid, []))
        for sid, _ in found
    ]
    syntax = statistic == DEPENDENCY
    each = each_sentence_counts(one_head, kind == "causal", syntax, attention_codec.LEVELS)
    scored = []
    for (sid, sentence), counts in zip(found, each, strict=True):
        if statistic == DEPENDENCY:
            key = (str(relation), direction)
            right = int(counts.correct[key][0, 0]) if key in counts.correct else 0
            links = counts.links.get(key, 0)
            if right:
                scored.append(
                    HeadExample(sid, sentence, right, f"{right} of {links} {relation} links right")
                )
        else:
            i = STATISTICS.index(statistic)
            mean = counts.sums[0, 0, i] / max(int(counts.counts[i]), 1)
            scored.append(
                HeadExample(sid, sentence, round(float(mean), 4), f"{statistic} {mean:.3f}")
            )
    lowest_first = statistic == "entropy"  # a focused head: its lowest entropy
    scored.sort(key=lambda e: (e.score if lowest_first else -e.score, e.sentence_id))
    return scored[:n]
