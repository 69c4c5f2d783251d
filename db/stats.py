"""Read-only summaries of the store: what corpora hold, per model."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class CorpusModelCounts:
    corpus: str
    description: str
    documents: int
    sentences: int
    model: str | None
    model_documents: int
    tokens: int


CORPUS_COUNTS = text(
    """
    WITH docs AS (
        SELECT c.id, c.name, c.description, count(DISTINCT d.id) AS documents, count(s.id) AS sentences
        FROM corpora c
        LEFT JOIN documents d ON d.corpus_id = c.id
        LEFT JOIN sentences s ON s.document_id = d.id
        GROUP BY c.id
    ), per_model AS (
        SELECT d.corpus_id, m.name AS model, count(DISTINCT dm.document_id) AS model_documents,
               (SELECT count(*) FROM tokens t JOIN sentences s ON s.id = t.sentence_id
                 JOIN documents d2 ON d2.id = s.document_id
                 WHERE t.model_id = m.id AND d2.corpus_id = d.corpus_id) AS tokens
        FROM document_models dm
        JOIN documents d ON d.id = dm.document_id
        JOIN models m ON m.id = dm.model_id
        GROUP BY d.corpus_id, m.id, m.name
    )
    SELECT docs.name, docs.description, docs.documents, docs.sentences, pm.model,
           coalesce(pm.model_documents, 0), coalesce(pm.tokens, 0)
    FROM docs LEFT JOIN per_model pm ON pm.corpus_id = docs.id
    ORDER BY docs.name, pm.model
    """
)


def corpus_counts(session: Session) -> list[CorpusModelCounts]:
    return [CorpusModelCounts(*row) for row in session.execute(CORPUS_COUNTS)]


def stored_models(session: Session) -> list[dict]:
    rows = session.execute(
        text("SELECT name, kind, layers, heads, hidden_size FROM models ORDER BY name")
    ).mappings()
    return [dict(r) for r in rows]


def corpus_sentences(session: Session, corpus: str, model: str) -> int:
    """Sentences of a corpus stored for a model (0 when either is unknown)."""
    return session.execute(
        text(
            "SELECT count(s.id) FROM sentences s JOIN documents d ON d.id = s.document_id "
            "JOIN corpora c ON c.id = d.corpus_id JOIN document_models dm ON dm.document_id = d.id "
            "JOIN models m ON m.id = dm.model_id WHERE c.name = :c AND m.name = :m"
        ),
        {"c": corpus, "m": model},
    ).scalar_one()


def label_distribution(
    session: Session, corpus: str, kind: str, top: int = 20
) -> list[tuple[str, int]]:
    """The most frequent parts of speech (kind 'pos') or entity types ('ent_type', counted
    once per entity) of a corpus's words."""
    column = {"pos": "w.pos", "ent_type": "w.ent_type"}[kind]
    extra = " AND w.ent_type <> '' AND w.ent_iob = 'B'" if kind == "ent_type" else ""
    return [
        (r[0], r[1])
        for r in session.execute(
            text(
                f"SELECT {column}, count(*) FROM words w JOIN sentences s ON s.id = w.sentence_id "
                f"JOIN documents d ON d.id = s.document_id JOIN corpora c ON c.id = d.corpus_id "
                f"WHERE c.name = :c{extra} GROUP BY 1 ORDER BY 2 DESC LIMIT :n"
            ),
            {"c": corpus, "n": top},
        )
    ]


def model_bytes(session: Session) -> dict[str, int]:
    """Bytes on disk of each model's vectors (its partitions, indexes included)."""
    return {
        name: int(size or 0)
        for name, size in session.execute(
            text(
                "SELECT m.name, sum(pg_total_relation_size(format('vectors_s%s', sp.id)::regclass)) "
                "FROM vector_spaces sp JOIN models m ON m.id = sp.model_id "
                "WHERE to_regclass(format('vectors_s%s', sp.id)) IS NOT NULL GROUP BY m.name"
            )
        )
    }
