"""The store's tables, SQLAlchemy 2 style. Alembic owns every change to them.

Vectors live in one table partitioned by `space_id`: a space is one
(model, layer, kind). Each space's rows are then contiguous on disk (an exact
scan reads only its own pages) and carry their own HNSW index on an
expression with the space's dimension (`embedding::halfvec(dim)`); see
docs/sql.md for why.
"""

from __future__ import annotations

from datetime import datetime

from pgvector.sqlalchemy import HALFVEC
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Model(Base):
    __tablename__ = "models"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    layers: Mapped[int] = mapped_column(SmallInteger)
    heads: Mapped[int] = mapped_column(SmallInteger)
    hidden_size: Mapped[int] = mapped_column(Integer)
    context_size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (CheckConstraint("kind IN ('mlm', 'causal', 'encoder')", name="kind"),)


class Corpus(Base):
    __tablename__ = "corpora"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Document(Base):
    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    corpus_id: Mapped[int] = mapped_column(ForeignKey("corpora.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    meta: Mapped[dict] = mapped_column("metadata", JSONB, default=dict, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (UniqueConstraint("corpus_id", "content_hash"),)


class Sentence(Base):
    __tablename__ = "sentences"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    start_char: Mapped[int] = mapped_column(Integer)
    __table_args__ = (
        UniqueConstraint("document_id", "index"),
        # search excludes the query's own sentence by its text
        Index("ix_sentences_text", "text", postgresql_using="hash"),
    )


class Word(Base):
    """spaCy's annotation of one word; independent of any model."""

    __tablename__ = "words"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sentence_id: Mapped[int] = mapped_column(ForeignKey("sentences.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(SmallInteger)
    text: Mapped[str] = mapped_column(Text)
    lemma: Mapped[str] = mapped_column(Text)
    pos: Mapped[str] = mapped_column(String(8))
    tag: Mapped[str] = mapped_column(String(16))
    dep: Mapped[str] = mapped_column(String(32))
    head_index: Mapped[int] = mapped_column(SmallInteger)
    ent_type: Mapped[str] = mapped_column(String(32))
    ent_iob: Mapped[str] = mapped_column(String(1))
    is_stop: Mapped[bool] = mapped_column(Boolean)
    start_char: Mapped[int] = mapped_column(Integer)
    end_char: Mapped[int] = mapped_column(Integer)
    __table_args__ = (
        UniqueConstraint("sentence_id", "index"),
        Index("ix_words_pos", "pos"),
        Index("ix_words_lemma", "lemma"),
    )


class Token(Base):
    """One model's tokenisation of a sentence."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sentence_id: Mapped[int] = mapped_column(ForeignKey("sentences.id", ondelete="CASCADE"))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(SmallInteger)
    text: Mapped[str] = mapped_column(Text)
    word_id: Mapped[int | None] = mapped_column(ForeignKey("words.id", ondelete="CASCADE"))
    is_special: Mapped[bool] = mapped_column(Boolean)
    start_char: Mapped[int] = mapped_column(Integer)
    end_char: Mapped[int] = mapped_column(Integer)
    __table_args__ = (
        UniqueConstraint("sentence_id", "model_id", "position"),
        Index("ix_tokens_word_id", "word_id"),
    )


class DocumentModel(Base):
    """A document fully stored for a model: written in the same transaction as its tokens."""

    __tablename__ = "document_models"
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # counted in head_stats (migration 0006): ingestion counts as it writes; older
    # documents wait for `exbert heads --backfill`
    head_stats: Mapped[bool] = mapped_column(Boolean, server_default=false())


class VectorSpace(Base):
    """One (model, layer, kind): a partition of `vectors` and its index."""

    __tablename__ = "vector_spaces"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    layer: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[str] = mapped_column(String(8))
    dim: Mapped[int] = mapped_column(Integer)
    __table_args__ = (
        UniqueConstraint("model_id", "layer", "kind"),
        CheckConstraint("kind IN ('hidden', 'context')", name="kind"),
    )


class Attention(Base):
    """A sentence's attention at one layer: uint8 [heads, tokens, tokens], weight = byte / 255.

    Stored uncompressed (migration 0002): pglz cost half of ingestion's database time.
    """

    __tablename__ = "attentions"
    sentence_id: Mapped[int] = mapped_column(
        ForeignKey("sentences.id", ondelete="CASCADE"), primary_key=True
    )
    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    layer: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    heads: Mapped[int] = mapped_column(SmallInteger)
    tokens: Mapped[int] = mapped_column(SmallInteger)
    weights: Mapped[bytes] = mapped_column(LargeBinary)


class Label(Base):
    """An annotation label (a POS, tag, dependency or entity type) as the small code vectors carry."""

    __tablename__ = "labels"
    id: Mapped[int] = mapped_column(SmallInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(32))
    __table_args__ = (
        UniqueConstraint("kind", "value"),
        CheckConstraint("kind IN ('pos', 'tag', 'dep', 'ent_type')", name="kind"),
    )


class Vector(Base):
    """Partitioned by space_id (the migration creates it with PARTITION BY LIST).

    No primary key: rows are only ever written with their token, and a btree
    over (space_id, token_id) cost much of the write time for lookups that search
    never makes (docs/benchmarks.md, ingestion).

    The columns after `embedding` repeat what search filters on (migration 0003),
    so a filtered index walk reads no other table; the label codes are NULL for
    tokens without a word (special tokens).
    """

    __tablename__ = "vectors"
    space_id: Mapped[int] = mapped_column(Integer)
    token_id: Mapped[int] = mapped_column(BigInteger)
    embedding: Mapped[list] = mapped_column(HALFVEC())
    corpus_id: Mapped[int] = mapped_column(Integer)
    document_id: Mapped[int] = mapped_column(BigInteger)
    sentence_id: Mapped[int] = mapped_column(BigInteger)
    position: Mapped[int] = mapped_column(SmallInteger)
    pos_id: Mapped[int | None] = mapped_column(SmallInteger)
    tag_id: Mapped[int | None] = mapped_column(SmallInteger)
    dep_id: Mapped[int | None] = mapped_column(SmallInteger)
    ent_id: Mapped[int | None] = mapped_column(SmallInteger)
    __mapper_args__ = {"primary_key": [space_id, token_id]}


class HeadStat(Base):
    """A positional or entropy statistic of every head over a corpus, as sums and what they
    are over (exbert/head_stats.py): a head's mean is totals[layer * heads + head] / count,
    and adding documents adds to both. One row a statistic, the heads in an array: a
    document group's update is then a few rows, not thousands (view head_statistics)."""

    __tablename__ = "head_stats"
    corpus_id: Mapped[int] = mapped_column(
        ForeignKey("corpora.id", ondelete="CASCADE"), primary_key=True
    )
    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    statistic: Mapped[str] = mapped_column(String(24), primary_key=True)
    totals: Mapped[list[float]] = mapped_column(ARRAY(Double))  # [layer * heads + head]
    count: Mapped[int] = mapped_column(BigInteger)


class HeadSyntax(Base):
    """How often each head's most-attended word is the dependency head (or dependent) of a
    relation, over a corpus (Clark et al. 2019): correct[layer * heads + head] of total
    (view head_syntax_accuracy)."""

    __tablename__ = "head_syntax"
    corpus_id: Mapped[int] = mapped_column(
        ForeignKey("corpora.id", ondelete="CASCADE"), primary_key=True
    )
    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    relation: Mapped[str] = mapped_column(String(32), primary_key=True)
    direction: Mapped[str] = mapped_column(String(24), primary_key=True)
    correct: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    total: Mapped[int] = mapped_column(BigInteger)


class SyntaxBaseline(Base):
    """How often the word at a fixed offset is the relation's head (or dependent)."""

    __tablename__ = "syntax_baselines"
    corpus_id: Mapped[int] = mapped_column(
        ForeignKey("corpora.id", ondelete="CASCADE"), primary_key=True
    )
    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    relation: Mapped[str] = mapped_column(String(32), primary_key=True)
    direction: Mapped[str] = mapped_column(String(24), primary_key=True)
    offset: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    correct: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)


class HeadCoverage(Base):
    """How many sentences and tokens a corpus's head statistics are over."""

    __tablename__ = "head_coverage"
    corpus_id: Mapped[int] = mapped_column(
        ForeignKey("corpora.id", ondelete="CASCADE"), primary_key=True
    )
    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    sentences: Mapped[int] = mapped_column(BigInteger)
    tokens: Mapped[int] = mapped_column(BigInteger)


JOB_STATES = ("queued", "running", "done", "failed", "cancelled")


class Job(Base):
    """A request to add documents to a corpus with a model (from `exbert ingest` or the
    Corpora page): what a person follows and cancels. Its work is its tasks."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    corpus: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(Text)
    layers: Mapped[str | None] = mapped_column(Text)  # "0,3", or null for all
    description: Mapped[str] = mapped_column(Text, server_default="")
    origin: Mapped[str] = mapped_column(Text, server_default="")  # e.g. "cli", "browser"
    documents: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class JobTask(Base):
    """A few documents of a job, claimed by one worker at a time (FOR UPDATE SKIP LOCKED)
    under a lease the worker renews; a lease that runs out frees the task for another."""

    __tablename__ = "job_tasks"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    documents: Mapped[list] = mapped_column(JSONB)  # [{source, text, meta}]
    n_documents: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), server_default="queued")
    attempts: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    worker: Mapped[str | None] = mapped_column(Text)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    documents_added: Mapped[int] = mapped_column(Integer, server_default="0")
    documents_skipped: Mapped[int] = mapped_column(Integer, server_default="0")
    sentences: Mapped[int] = mapped_column(Integer, server_default="0")
    tokens: Mapped[int] = mapped_column(BigInteger, server_default="0")
    rejected: Mapped[list] = mapped_column(JSONB, server_default="[]")  # [{source, message}]
    error: Mapped[str | None] = mapped_column(Text)  # why the task failed
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed', 'cancelled')", name="status"
        ),
        Index("ix_job_tasks_job_id", "job_id"),
        # what workers look for: the open tasks, oldest first
        Index(
            "ix_job_tasks_open",
            "id",
            postgresql_where="status IN ('queued', 'running')",
        ),
    )
