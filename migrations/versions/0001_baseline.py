"""Baseline: corpora, documents, sentences, spaCy words, model tokens, vectors, attention.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 14:23:30.880640
"""

import pgvector.sqlalchemy
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "corpora",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corpora")),
        sa.UniqueConstraint("name", name=op.f("uq_corpora_name")),
    )
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("layers", sa.SmallInteger(), nullable=False),
        sa.Column("heads", sa.SmallInteger(), nullable=False),
        sa.Column("hidden_size", sa.Integer(), nullable=False),
        sa.Column("context_size", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('mlm', 'causal', 'encoder')", name=op.f("ck_models_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("name", name=op.f("uq_models_name")),
    )
    op.create_table(
        "vectors",
        sa.Column("space_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.BigInteger(), nullable=False),
        sa.Column("embedding", pgvector.sqlalchemy.halfvec.HALFVEC(), nullable=False),
        # one partition per vector space, created with the space (db/store.py)
        postgresql_partition_by="LIST (space_id)",
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("corpus_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "metadata", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["corpus_id"],
            ["corpora.id"],
            name=op.f("fk_documents_corpus_id_corpora"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
        sa.UniqueConstraint(
            "corpus_id", "content_hash", name=op.f("uq_documents_corpus_id_content_hash")
        ),
    )
    op.create_table(
        "vector_spaces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("layer", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('hidden', 'context')", name=op.f("ck_vector_spaces_kind")),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name=op.f("fk_vector_spaces_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vector_spaces")),
        sa.UniqueConstraint(
            "model_id", "layer", "kind", name=op.f("uq_vector_spaces_model_id_layer_kind")
        ),
    )
    op.create_table(
        "document_models",
        sa.Column("document_id", sa.BigInteger(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_document_models_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name=op.f("fk_document_models_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("document_id", "model_id", name=op.f("pk_document_models")),
    )
    op.create_table(
        "sentences",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("document_id", sa.BigInteger(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("start_char", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_sentences_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sentences")),
        sa.UniqueConstraint("document_id", "index", name=op.f("uq_sentences_document_id_index")),
    )
    op.create_table(
        "attentions",
        sa.Column("sentence_id", sa.BigInteger(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("layer", sa.SmallInteger(), nullable=False),
        sa.Column("heads", sa.SmallInteger(), nullable=False),
        sa.Column("tokens", sa.SmallInteger(), nullable=False),
        sa.Column("weights", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name=op.f("fk_attentions_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sentence_id"],
            ["sentences.id"],
            name=op.f("fk_attentions_sentence_id_sentences"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sentence_id", "model_id", "layer", name=op.f("pk_attentions")),
    )
    op.create_table(
        "words",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("sentence_id", sa.BigInteger(), nullable=False),
        sa.Column("index", sa.SmallInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("lemma", sa.Text(), nullable=False),
        sa.Column("pos", sa.String(length=8), nullable=False),
        sa.Column("tag", sa.String(length=16), nullable=False),
        sa.Column("dep", sa.String(length=32), nullable=False),
        sa.Column("head_index", sa.SmallInteger(), nullable=False),
        sa.Column("ent_type", sa.String(length=32), nullable=False),
        sa.Column("ent_iob", sa.String(length=1), nullable=False),
        sa.Column("is_stop", sa.Boolean(), nullable=False),
        sa.Column("start_char", sa.Integer(), nullable=False),
        sa.Column("end_char", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sentence_id"],
            ["sentences.id"],
            name=op.f("fk_words_sentence_id_sentences"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_words")),
        sa.UniqueConstraint("sentence_id", "index", name=op.f("uq_words_sentence_id_index")),
    )
    op.create_index("ix_words_lemma", "words", ["lemma"], unique=False)
    op.create_index("ix_words_pos", "words", ["pos"], unique=False)
    op.create_table(
        "tokens",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("sentence_id", sa.BigInteger(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("word_id", sa.BigInteger(), nullable=True),
        sa.Column("is_special", sa.Boolean(), nullable=False),
        sa.Column("start_char", sa.Integer(), nullable=False),
        sa.Column("end_char", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_tokens_model_id_models"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["sentence_id"],
            ["sentences.id"],
            name=op.f("fk_tokens_sentence_id_sentences"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["word_id"], ["words.id"], name=op.f("fk_tokens_word_id_words"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens")),
        sa.UniqueConstraint(
            "sentence_id",
            "model_id",
            "position",
            name=op.f("uq_tokens_sentence_id_model_id_position"),
        ),
    )
    op.create_index("ix_tokens_word_id", "tokens", ["word_id"], unique=False)
    op.execute(TOKEN_VIEW)


# Every stored token with its sentence, spaCy annotation, corpus and model: the
# view most SQL questions start from (docs/sql.md).
TOKEN_VIEW = """
CREATE VIEW token_annotations AS
SELECT t.id AS token_id, t.model_id, m.name AS model, c.id AS corpus_id, c.name AS corpus,
       d.id AS document_id, s.id AS sentence_id, t.position, t.text AS token, t.is_special,
       w.id AS word_id, w.text AS word, w.lemma, w.pos, w.tag, w.dep, w.head_index,
       w.ent_type, w.ent_iob, w.is_stop, s.text AS sentence
FROM tokens t
JOIN models m ON m.id = t.model_id
JOIN sentences s ON s.id = t.sentence_id
JOIN documents d ON d.id = s.document_id
JOIN corpora c ON c.id = d.corpus_id
LEFT JOIN words w ON w.id = t.word_id
"""


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS token_annotations")
    op.drop_index("ix_tokens_word_id", table_name="tokens")
    op.drop_table("tokens")
    op.drop_index("ix_words_pos", table_name="words")
    op.drop_index("ix_words_lemma", table_name="words")
    op.drop_table("words")
    op.drop_table("attentions")
    op.drop_table("sentences")
    op.drop_table("document_models")
    op.drop_table("vector_spaces")
    op.drop_table("documents")
    op.drop_table("vectors")
    op.drop_table("models")
    op.drop_table("corpora")
