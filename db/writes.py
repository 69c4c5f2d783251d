"""Writes to the store: models, corpora, vector spaces, documents and one model's rows.

Functions take a SQLAlchemy session opened at the edge and plain data (the
shapes of exbert/shapes.py, numpy arrays), never model or spaCy objects. Rows
are written with COPY inside the caller's transaction, so a document is wholly
there or absent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db import attention_codec, copy_format, indexes, labels
from db.engine import driver_connection
from db.schema import Corpus, Document, DocumentModel, Model, Sentence, VectorSpace
from exbert.shapes import Sentence as NewSentence
from exbert.shapes import Token

KINDS = ("hidden", "context")


def _next_ids(session: Session, table: str, n: int) -> list[int]:
    """`n` ids from the table's sequence, as one array (one row, not `n` to fetch)."""
    if n == 0:
        return []
    return session.scalar(
        text(
            "SELECT array(SELECT nextval(pg_get_serial_sequence(:t, 'id')) "
            "FROM generate_series(1, :n))"
        ),
        {"t": table, "n": n},
    )


def ensure_model(
    session: Session,
    name: str,
    kind: str,
    layers: int,
    heads: int,
    hidden_size: int,
    context_size: int,
) -> int:
    stmt = (
        insert(Model)
        .values(
            name=name,
            kind=kind,
            layers=layers,
            heads=heads,
            hidden_size=hidden_size,
            context_size=context_size,
        )
        .on_conflict_do_nothing(index_elements=["name"])
    )
    session.execute(stmt)
    return session.scalar(select(Model.id).where(Model.name == name))


def ensure_corpus(session: Session, name: str, description: str = "") -> int:
    session.execute(
        insert(Corpus)
        .values(name=name, description=description)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return session.scalar(select(Corpus.id).where(Corpus.name == name))


def ensure_spaces(
    session: Session, model_id: int, layers: Iterable[int], dims: dict[str, int]
) -> dict[tuple[int, str], int]:
    """Vector spaces (and their partitions) for these layers of a model: {(layer, kind): space_id}."""
    out = {}
    for layer in layers:
        for kind in KINDS:
            session.execute(
                insert(VectorSpace)
                .values(model_id=model_id, layer=int(layer), kind=kind, dim=int(dims[kind]))
                .on_conflict_do_nothing(index_elements=["model_id", "layer", "kind"])
            )
            space_id = session.scalar(
                select(VectorSpace.id).where(
                    VectorSpace.model_id == model_id,
                    VectorSpace.layer == int(layer),
                    VectorSpace.kind == kind,
                )
            )
            indexes.create_partition(session, space_id)
            out[(int(layer), kind)] = space_id
    return out


@dataclass(frozen=True)
class StoredDocument:
    id: int
    done: bool  # stored for the model asked about
    sentences: int


def stored_documents(
    session: Session, corpus_id: int, model_id: int, content_hashes: Sequence[str]
) -> dict[str, StoredDocument]:
    """Which of these contents the corpus holds, and whether for this model: one
    statement for a group of documents (a look-up each cost ingestion a round trip
    per document in its main thread)."""
    done = (
        select(DocumentModel.document_id)
        .where(DocumentModel.document_id == Document.id, DocumentModel.model_id == model_id)
        .exists()
    )
    sentences = (
        select(func.count()).select_from(Sentence).where(Sentence.document_id == Document.id)
    ).scalar_subquery()
    rows = session.execute(
        select(Document.content_hash, Document.id, done, sentences).where(
            Document.corpus_id == corpus_id, Document.content_hash.in_(list(content_hashes))
        )
    )
    return {h: StoredDocument(i, d, n) for h, i, d, n in rows}


def document_done(session: Session, document_id: int, model_id: int) -> bool:
    return session.get(DocumentModel, (document_id, model_id)) is not None


def skip_flush_wait(session: Session) -> None:
    """Let this transaction's commit return before its WAL reaches the disk: a server
    crash can lose the last commits (whole documents, which a rerun adds again) but
    never half of one."""
    session.execute(text("SET LOCAL synchronous_commit = off"))


def lock_documents(session: Session, corpus_id: int, keys: Iterable[str]) -> None:
    """Serialise writers of the same documents until the transaction ends; taken in
    sorted order, so two writers of overlapping groups cannot deadlock."""
    session.execute(
        text("SELECT pg_advisory_xact_lock(:k1, hashtext(k)) FROM unnest(CAST(:keys AS text[])) k"),
        {"k1": int(corpus_id), "keys": sorted(set(keys))},
    )


def stored_hashes(session: Session, corpus_id: int, content_hashes: Sequence[str]) -> set[str]:
    """Which of these contents the corpus holds already."""
    return set(
        session.scalars(
            select(Document.content_hash).where(
                Document.corpus_id == corpus_id, Document.content_hash.in_(content_hashes)
            )
        )
    )


@dataclass(frozen=True)
class NewDocument:
    source: str
    content_hash: str
    meta: dict
    sentences: Sequence[NewSentence]


@dataclass(frozen=True)
class WrittenDocument:
    id: int
    sentence_ids: list[int]
    word_ids: list[list[int]]  # per sentence


def write_documents(
    session: Session, corpus_id: int, documents: Sequence[NewDocument]
) -> list[WrittenDocument]:
    """Insert documents with their sentences and words, one statement per table."""
    docs = [
        Document(corpus_id=corpus_id, source=d.source, content_hash=d.content_hash, meta=d.meta)
        for d in documents
    ]
    session.add_all(docs)
    session.flush()
    sentences = [
        (doc.id, i, x)
        for doc, d in zip(docs, documents, strict=True)
        for i, x in enumerate(d.sentences)
    ]
    sentence_ids = _next_ids(session, "sentences", len(sentences))
    all_word_ids = iter(_next_ids(session, "words", sum(len(x.words) for _, _, x in sentences)))
    word_ids = [[next(all_word_ids) for _ in x.words] for _, _, x in sentences]
    with driver_connection(session).cursor() as cur:
        with cur.copy(
            "COPY sentences (id, document_id, index, text, start_char) FROM STDIN"
        ) as copy:
            for sid, (doc_id, i, x) in zip(sentence_ids, sentences, strict=True):
                copy.write_row((sid, doc_id, i, x.text, x.start))
        with cur.copy(
            "COPY words (id, sentence_id, index, text, lemma, pos, tag, dep, head_index, ent_type, "
            "ent_iob, is_stop, start_char, end_char) FROM STDIN"
        ) as copy:
            for sid, ids, (_, _, x) in zip(sentence_ids, word_ids, sentences, strict=True):
                for wid, w in zip(ids, x.words, strict=True):
                    copy.write_row(
                        (wid, sid, w.index, w.text, w.lemma, w.pos, w.tag, w.dep, w.head_index,
                         w.ent_type, w.ent_iob, w.is_stop, w.start, w.end)
                    )  # fmt: skip
    out, at = [], 0
    for doc, d in zip(docs, documents, strict=True):
        n = len(d.sentences)
        out.append(WrittenDocument(doc.id, sentence_ids[at : at + n], word_ids[at : at + n]))
        at += n
    return out


@dataclass
class SentenceModelRows:
    """One sentence as one model sees it, ready to store."""

    tokens: Sequence[Token]  # each linked to its word (Token.word), or special
    vectors: dict[int, np.ndarray]  # space_id -> [T, dim], normalised; float16 writes fastest
    attentions: np.ndarray | None  # [layers, heads, T, T]: weights, or uint8 levels as stored


@dataclass(frozen=True)
class SentenceIds:
    """Where one sentence's model rows go: its ids and its words' ids and label codes."""

    document_id: int
    sentence_id: int
    word_ids: Sequence[int]
    word_codes: np.ndarray  # [words, 4], from labels.word_code_rows


def write_model_rows(
    session: Session,
    model_id: int,
    corpus_id: int,
    sentences: Sequence[SentenceIds],
    rows: Sequence[SentenceModelRows],
    counted: bool = False,
) -> int:
    """Insert whole documents' tokens, vectors and attention for a model, each table
    in one COPY, and mark the documents done (`counted`: their attention is in the head
    statistics, which the caller adds in this transaction). `rows[i]` belongs to
    `sentences[i]`. Returns the number of tokens written."""
    n_tokens = sum(len(r.tokens) for r in rows)
    token_ids = iter(_next_ids(session, "tokens", n_tokens))
    per_sentence = []
    with driver_connection(session).cursor() as cur:
        with cur.copy(
            "COPY tokens (id, sentence_id, model_id, position, text, word_id, is_special, "
            "start_char, end_char) FROM STDIN"
        ) as copy:
            for r, where in zip(rows, sentences, strict=True):
                ids = []
                for t in r.tokens:
                    tid = next(token_ids)
                    ids.append(tid)
                    word_id = None if t.word is None else where.word_ids[t.word.index]
                    copy.write_row(
                        (tid, where.sentence_id, model_id, t.position, t.text, word_id,
                         t.is_special, t.start, t.end)
                    )  # fmt: skip
                per_sentence.append(ids)
        with cur.copy(
            f"COPY vectors ({copy_format.VECTOR_COLUMNS}) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.write(copy_format.COPY_HEADER)
            columns = _token_columns(corpus_id, sentences, per_sentence, rows) if rows else None
            for space_id in rows[0].vectors if rows else ():
                matrix = np.concatenate([r.vectors[space_id] for r in rows])
                copy.write(copy_format.vector_copy_rows(space_id, columns, matrix))
            copy.write(copy_format.COPY_TRAILER)
        with cur.copy(
            "COPY attentions (sentence_id, model_id, layer, heads, tokens, weights) "
            "FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "int4", "int2", "int2", "int2", "bytea"])
            for r, where in zip(rows, sentences, strict=True):
                if r.attentions is None:
                    continue
                levels = r.attentions
                if levels.dtype != np.uint8:
                    levels = attention_codec.to_levels(levels)
                layers, heads, t, _ = levels.shape
                for layer in range(layers):
                    weights = levels[layer].tobytes()
                    copy.write_row((where.sentence_id, model_id, layer, heads, t, weights))
    done = dict.fromkeys(s.document_id for s in sentences)
    session.add_all(
        DocumentModel(document_id=d, model_id=model_id, head_stats=counted) for d in done
    )
    session.flush()
    return n_tokens


def _token_columns(
    corpus_id: int,
    sentences: Sequence[SentenceIds],
    token_ids: Sequence[Sequence[int]],
    rows: Sequence[SentenceModelRows],
) -> copy_format.TokenColumns:
    """Whole documents' tokens as columns: one COPY block per space, not per sentence."""
    codes = []
    for r, where in zip(rows, sentences, strict=True):
        linked = np.array(
            [-1 if t.word is None else t.word.index for t in r.tokens], dtype=np.int64
        )
        token_codes = np.full((len(linked), len(labels.KINDS)), -1, dtype=np.int16)
        word_codes = np.asarray(where.word_codes, dtype=np.int16)
        token_codes[linked >= 0] = word_codes[linked[linked >= 0]]
        codes.append(token_codes)
    per_sentence = [len(r.tokens) for r in rows]
    return copy_format.TokenColumns(
        corpus_id=corpus_id,
        document_id=np.repeat(
            np.asarray([s.document_id for s in sentences], dtype=np.int64), per_sentence
        ),
        token_id=np.concatenate([np.asarray(ids, dtype=np.int64) for ids in token_ids]),
        sentence_id=np.repeat(
            np.asarray([s.sentence_id for s in sentences], dtype=np.int64), per_sentence
        ),
        position=np.array([t.position for r in rows for t in r.tokens], dtype=np.int16),
        codes=np.concatenate(codes),
    )
