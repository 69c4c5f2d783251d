"""Head statistics in the store: added to in the writer's transaction, read as a whole.

Rows are added with INSERT ... ON CONFLICT DO UPDATE in key order, so two writers
adding to the same rows wait for each other and never deadlock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from db.engine import driver_connection
from exbert.head_stats import DIRECTIONS, OFFSETS, STATISTICS, HeadCounts


def add(session: Session, corpus_id: int, model_id: int, counts: HeadCounts) -> None:
    """Add one group's counts to the corpus's (in the caller's transaction)."""
    if counts.sentences == 0:
        return
    stats = [
        (name, counts.sums[:, :, i].ravel().tolist(), int(counts.counts[i]))
        for i, name in enumerate(STATISTICS)
    ]
    syntax = sorted(
        (
            relation,
            direction,
            correct.ravel().astype(int).tolist(),
            counts.links[(relation, direction)],
        )
        for (relation, direction), correct in counts.correct.items()
    )
    baselines = sorted(
        (
            relation,
            direction,
            offset,
            int(counts.baseline[(relation, direction)][i]),
            counts.links[(relation, direction)],
        )
        for relation, direction in counts.correct
        for i, offset in enumerate(OFFSETS)
    )
    cur = driver_connection(session).cursor()
    cur.executemany(
        "INSERT INTO head_stats (corpus_id, model_id, statistic, totals, count) "
        "VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (corpus_id, model_id, statistic) DO UPDATE SET "
        f"totals = {_ADD.format(old='head_stats.totals', new='excluded.totals')}, "
        "count = head_stats.count + excluded.count",
        [(corpus_id, model_id, name, totals, n) for name, totals, n in stats],
    )
    if syntax:
        cur.executemany(
            "INSERT INTO head_syntax (corpus_id, model_id, relation, direction, correct, total) "
            "VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (corpus_id, model_id, relation, direction) DO UPDATE SET "
            f"correct = {_ADD.format(old='head_syntax.correct', new='excluded.correct')}, "
            "total = head_syntax.total + excluded.total",
            [(corpus_id, model_id, *row) for row in syntax],
        )
        cur.execute(
            'INSERT INTO syntax_baselines (corpus_id, model_id, relation, direction, "offset", correct, total) '
            "SELECT %(c)s, %(m)s, * FROM unnest(%(a)s::text[], %(b)s::text[], %(d)s::int[], "
            "%(e)s::bigint[], %(f)s::bigint[]) "
            'ON CONFLICT (corpus_id, model_id, relation, direction, "offset") DO UPDATE SET '
            "correct = syntax_baselines.correct + excluded.correct, "
            "total = syntax_baselines.total + excluded.total",
            {"c": corpus_id, "m": model_id, **_columns(baselines, "abdef")},
        )
    cur.execute(
        "INSERT INTO head_coverage (corpus_id, model_id, sentences, tokens) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (corpus_id, model_id) DO UPDATE SET "
        "sentences = head_coverage.sentences + excluded.sentences, "
        "tokens = head_coverage.tokens + excluded.tokens",
        (corpus_id, model_id, counts.sentences, counts.tokens),
    )


# element-wise sum of two arrays of the same length, in SQL
_ADD = (
    "(SELECT array_agg(a + b ORDER BY i) FROM unnest({old}, {new}) WITH ORDINALITY AS u(a, b, i))"
)


def _columns(rows: list[tuple], names: str) -> dict:
    return {name: list(column) for name, column in zip(names, zip(*rows, strict=True), strict=True)}


@dataclass
class StoredHeadStats:
    layers: int
    heads: int
    sentences: int
    tokens: int
    means: dict[str, np.ndarray]  # statistic -> [layer, head]
    accuracy: dict[str, dict[str, np.ndarray]]  # relation -> direction -> [layer, head]
    baseline: dict[str, dict[str, float]]  # relation -> direction -> best offset's accuracy
    best_offset: dict[str, dict[str, int]]
    links: dict[str, int]  # relation -> dependents counted


def read(
    session: Session, corpus_id: int, model_id: int, layers: int, heads: int
) -> StoredHeadStats:
    coverage = session.execute(
        text("SELECT sentences, tokens FROM head_coverage WHERE corpus_id = :c AND model_id = :m"),
        {"c": corpus_id, "m": model_id},
    ).first()
    means = {name: np.zeros((layers, heads)) for name in STATISTICS}
    size = layers * heads
    for name, totals, count in session.execute(
        text(
            "SELECT statistic, totals, count FROM head_stats WHERE corpus_id = :c AND model_id = :m"
        ),
        {"c": corpus_id, "m": model_id},
    ):
        if name in means and len(totals) == size and count:
            means[name] = np.asarray(totals, dtype=float).reshape(layers, heads) / count
    accuracy: dict[str, dict[str, np.ndarray]] = {}
    links: dict[str, int] = {}
    for relation, direction, correct, total in session.execute(
        text(
            "SELECT relation, direction, correct, total FROM head_syntax "
            "WHERE corpus_id = :c AND model_id = :m"
        ),
        {"c": corpus_id, "m": model_id},
    ):
        grids = accuracy.setdefault(relation, {d: np.zeros((layers, heads)) for d in DIRECTIONS})
        if len(correct) == size and total:
            grids[direction] = np.asarray(correct, dtype=float).reshape(layers, heads) / total
        links[relation] = max(links.get(relation, 0), total)
    baseline: dict[str, dict[str, float]] = {}
    best_offset: dict[str, dict[str, int]] = {}
    for relation, direction, offset, value in session.execute(
        text(
            'SELECT DISTINCT ON (relation, direction) relation, direction, "offset", '
            "correct::float8 / nullif(total, 0) FROM syntax_baselines "
            "WHERE corpus_id = :c AND model_id = :m "
            'ORDER BY relation, direction, correct::float8 / nullif(total, 0) DESC NULLS LAST, "offset"'
        ),
        {"c": corpus_id, "m": model_id},
    ):
        baseline.setdefault(relation, {})[direction] = value or 0.0
        best_offset.setdefault(relation, {})[direction] = offset
    return StoredHeadStats(
        layers=layers,
        heads=heads,
        sentences=coverage[0] if coverage else 0,
        tokens=coverage[1] if coverage else 0,
        means=means,
        accuracy=accuracy,
        baseline=baseline,
        best_offset=best_offset,
        links=links,
    )


def uncounted_documents(session: Session, corpus_id: int, model_id: int) -> list[int]:
    """Documents stored for the model whose attention is not yet in the statistics."""
    return list(
        session.scalars(
            text(
                "SELECT dm.document_id FROM document_models dm "
                "JOIN documents d ON d.id = dm.document_id "
                "WHERE d.corpus_id = :c AND dm.model_id = :m AND NOT dm.head_stats "
                "ORDER BY dm.document_id"
            ),
            {"c": corpus_id, "m": model_id},
        )
    )


def still_uncounted(session: Session, model_id: int, document_ids: list[int]) -> list[int]:
    """Which of these documents are still not counted (another process may have been first)."""
    return list(
        session.scalars(
            text(
                "SELECT document_id FROM document_models WHERE model_id = :m "
                "AND document_id = ANY(:d) AND NOT head_stats ORDER BY document_id"
            ),
            {"m": model_id, "d": document_ids},
        )
    )


def mark_counted(session: Session, model_id: int, document_ids: list[int]) -> None:
    session.execute(
        text(
            "UPDATE document_models SET head_stats = true "
            "WHERE model_id = :m AND document_id = ANY(:d)"
        ),
        {"m": model_id, "d": document_ids},
    )
