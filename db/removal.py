"""Removing what a store holds: a corpus, or one model's rows of a corpus.

Vectors carry their corpus but no foreign key (a key would cost every write its
lookup), so they are deleted here explicitly; everything else follows by
ON DELETE CASCADE. Callers run these in one transaction: all or nothing.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session


def _no_statement_timeout(session: Session) -> None:
    session.execute(text("SET LOCAL statement_timeout = 0"))  # a big corpus takes a while


def delete_corpus(session: Session, corpus_id: int) -> None:
    _no_statement_timeout(session)
    session.execute(text("DELETE FROM vectors WHERE corpus_id = :c"), {"c": corpus_id})
    session.execute(text("DELETE FROM corpora WHERE id = :c"), {"c": corpus_id})


def delete_model_rows(session: Session, corpus_id: int, model_id: int) -> None:
    """A model's tokens, vectors, attention and head statistics of one corpus; the
    corpus's text and spaCy annotation stay, for other models or a new ingestion."""
    _no_statement_timeout(session)
    ids = {"c": corpus_id, "m": model_id}
    in_corpus = (
        "sentence_id IN (SELECT s.id FROM sentences s JOIN documents d ON d.id = s.document_id "
        "WHERE d.corpus_id = :c)"
    )
    session.execute(
        text(
            "DELETE FROM vectors WHERE corpus_id = :c AND space_id IN "
            "(SELECT id FROM vector_spaces WHERE model_id = :m)"
        ),
        ids,
    )
    session.execute(text(f"DELETE FROM attentions WHERE model_id = :m AND {in_corpus}"), ids)
    session.execute(text(f"DELETE FROM tokens WHERE model_id = :m AND {in_corpus}"), ids)
    session.execute(
        text(
            "DELETE FROM document_models WHERE model_id = :m AND document_id IN "
            "(SELECT id FROM documents WHERE corpus_id = :c)"
        ),
        ids,
    )
    for table in ("head_stats", "head_syntax", "syntax_baselines", "head_coverage"):
        session.execute(text(f"DELETE FROM {table} WHERE corpus_id = :c AND model_id = :m"), ids)
