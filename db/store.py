"""Writes to the store: models, corpora, vector spaces (partitions) and documents.

Functions take a SQLAlchemy session opened at the edge and plain data
(tuples, numpy arrays), never model or spaCy objects. A document's rows are
written with COPY inside the caller's transaction, so a document is wholly
there or absent.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.schema import Corpus, Document, DocumentModel, Label, Model, VectorSpace

KINDS = ("hidden", "context")
# Below this many rows a space is searched by an exact scan (tens of ms) and
# gets no HNSW index, which would cost more to keep up than it saves.
HNSW_MIN_ROWS = 100_000


@dataclass(frozen=True)
class WordRow:
    index: int
    text: str
    lemma: str
    pos: str
    tag: str
    dep: str
    head_index: int
    ent_type: str
    ent_iob: str
    is_stop: bool
    start_char: int
    end_char: int


@dataclass(frozen=True)
class TokenRow:
    position: int
    text: str
    word_index: int | None
    is_special: bool
    start_char: int
    end_char: int


def driver_connection(session: Session):
    """The psycopg connection under the session's transaction (for COPY, and for
    reads of many rows that need no SQLAlchemy row objects)."""
    return session.connection().connection.driver_connection


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


def partition_name(space_id: int) -> str:
    return f"vectors_s{int(space_id)}"


def index_name(space_id: int) -> str:
    return f"vectors_s{int(space_id)}_hnsw"


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
            session.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {partition_name(space_id)} "
                    f"PARTITION OF vectors FOR VALUES IN ({int(space_id)})"
                )
            )
            out[(int(layer), kind)] = space_id
    return out


def find_document(session: Session, corpus_id: int, content_hash: str) -> int | None:
    return session.scalar(
        select(Document.id).where(
            Document.corpus_id == corpus_id, Document.content_hash == content_hash
        )
    )


def document_done(session: Session, document_id: int, model_id: int) -> bool:
    return session.get(DocumentModel, (document_id, model_id)) is not None


def fast_commit(session: Session) -> None:
    """Don't wait for this transaction's WAL flush: a server crash can lose the
    last commits (whole documents, which a rerun adds again) but never half of one."""
    session.execute(text("SET LOCAL synchronous_commit = off"))


def lock_documents(session: Session, corpus_id: int, keys: Iterable[str]) -> None:
    """Serialise writers of the same documents until the transaction ends; taken in
    sorted order, so two writers of overlapping groups cannot deadlock."""
    session.execute(
        text("SELECT pg_advisory_xact_lock(:k1, hashtext(k)) FROM unnest(CAST(:keys AS text[])) k"),
        {"k1": int(corpus_id), "keys": sorted(set(keys))},
    )


def lock_document(session: Session, corpus_id: int, key: str) -> None:
    lock_documents(session, corpus_id, [key])


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
    sentences: Sequence[tuple[str, int, Sequence[WordRow]]]  # (text, start_char, words)


def write_document(
    session: Session,
    corpus_id: int,
    source: str,
    content_hash: str,
    meta: dict,
    sentences: Sequence[tuple[str, int, Sequence[WordRow]]],
) -> tuple[int, list[int], list[list[int]]]:
    """Insert a document, its sentences and words: (document id, sentence ids, word ids per sentence)."""
    return write_documents(
        session, corpus_id, [NewDocument(source, content_hash, meta, sentences)]
    )[0]


def write_documents(
    session: Session, corpus_id: int, documents: Sequence[NewDocument]
) -> list[tuple[int, list[int], list[list[int]]]]:
    """Insert documents with their sentences and words, one statement per table:
    for each document (its id, sentence ids, word ids per sentence)."""
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
    all_word_ids = iter(_next_ids(session, "words", sum(len(x[2]) for _, _, x in sentences)))
    word_ids = [[next(all_word_ids) for _ in x[2]] for _, _, x in sentences]
    conn = driver_connection(session)
    with conn.cursor() as cur:
        with cur.copy(
            "COPY sentences (id, document_id, index, text, start_char) FROM STDIN"
        ) as copy:
            for sid, (doc_id, i, (sent_text, start, _)) in zip(
                sentence_ids, sentences, strict=True
            ):
                copy.write_row((sid, doc_id, i, sent_text, start))
        with cur.copy(
            "COPY words (id, sentence_id, index, text, lemma, pos, tag, dep, head_index, ent_type, ent_iob, "
            "is_stop, start_char, end_char) FROM STDIN"
        ) as copy:
            for sid, ids, (_, _, (_, _, words)) in zip(
                sentence_ids, word_ids, sentences, strict=True
            ):
                for wid, w in zip(ids, words, strict=True):
                    copy.write_row(
                        (
                            wid,
                            sid,
                            w.index,
                            w.text,
                            w.lemma,
                            w.pos,
                            w.tag,
                            w.dep,
                            w.head_index,
                            w.ent_type,
                            w.ent_iob,
                            w.is_stop,
                            w.start_char,
                            w.end_char,
                        )
                    )
    out, at = [], 0
    for doc, d in zip(docs, documents, strict=True):
        n = len(d.sentences)
        out.append((doc.id, sentence_ids[at : at + n], word_ids[at : at + n]))
        at += n
    return out


# PostgreSQL's binary COPY format: signature, flags, header extension; -1 ends it.
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = b"\xff\xff"


def binary_copy_rows(n: int, fields: Sequence[tuple[np.dtype, np.ndarray | int | None]]) -> bytes:
    """`n` binary COPY rows of fixed-width fields, built in one numpy pass; a field
    given as None is NULL in every row.

    A per-row Python writer spent more time converting than the server spent storing.
    """
    spec: list[tuple] = [("count", ">i2")]
    for i, (dtype, values) in enumerate(fields):
        spec.append((f"len{i}", ">i4"))
        if values is not None:
            spec.append((f"f{i}", dtype))
    out = np.empty(n, dtype=spec)
    out["count"] = len(fields)
    for i, (dtype, values) in enumerate(fields):
        if values is None:
            out[f"len{i}"] = -1
        else:
            out[f"len{i}"] = np.dtype(dtype).itemsize
            out[f"f{i}"] = values
    return out.tobytes()


def halfvec_binary(matrix: np.ndarray) -> np.ndarray:
    """Rows of `matrix` in halfvec's binary wire format (dim int2, unused int2, float16 values)."""
    n, dim = matrix.shape
    out = np.empty(n, dtype=[("dim", ">i2"), ("unused", ">i2"), ("values", ">f2", (dim,))])
    out["dim"], out["unused"], out["values"] = dim, 0, matrix
    return out


VECTOR_COLUMNS = (
    "space_id, token_id, embedding, corpus_id, document_id, sentence_id, position, "
    "pos_id, tag_id, dep_id, ent_id"
)


@dataclass
class TokenColumns:
    """Documents' tokens as the columns every vector row repeats (see schema.Vector)."""

    corpus_id: int
    document_id: np.ndarray  # int64
    token_id: np.ndarray  # int64
    sentence_id: np.ndarray  # int64
    position: np.ndarray  # int16
    codes: np.ndarray  # int16 [n, 4]: pos, tag, dep, ent_type label codes; -1 without a word

    @functools.cached_property
    def parts(self) -> list[tuple[np.ndarray, list]]:
        """(rows, the fields after the vector) of the tokens with a word and of those
        without one (their labels NULL): the same for every space."""
        has_word = self.codes[:, 0] >= 0
        out = []
        for rows, word in ((np.flatnonzero(has_word), True), (np.flatnonzero(~has_word), False)):
            if len(rows):
                labels = [(">i2", self.codes[rows, j] if word else None) for j in range(4)]
                fields = [
                    (">i4", self.corpus_id),
                    (">i8", self.document_id[rows]),
                    (">i8", self.sentence_id[rows]),
                    (">i2", self.position[rows]),
                ]
                out.append((rows, fields + labels))
        return out


def vector_copy_rows(space_id: int, tokens: TokenColumns, matrix: np.ndarray) -> bytes:
    """Binary COPY rows (VECTOR_COLUMNS) of one space's vectors, `matrix[i]` for token i."""
    out = []
    for rows, after in tokens.parts:
        vectors = halfvec_binary(matrix[rows])
        fields = [(">i4", space_id), (">i8", tokens.token_id[rows]), (vectors.dtype, vectors)]
        out.append(binary_copy_rows(len(rows), fields + after))
    return b"".join(out)


ATTENTION_LEVELS = 255  # a stored attention weight is byte / ATTENTION_LEVELS


def quantize_attention(attention: np.ndarray) -> bytes:
    """[heads, T, T] weights in [0, 1] to uint8 bytes."""
    levels = np.rint(attention * float(ATTENTION_LEVELS))
    return np.clip(levels, 0, ATTENTION_LEVELS).astype(np.uint8).tobytes()


def attention_bytes(weights: bytes, heads: int, tokens: int) -> np.ndarray:
    """The stored bytes as a uint8 [heads, T, T] view (no copy)."""
    return np.frombuffer(weights, dtype=np.uint8).reshape(heads, tokens, tokens)


def dequantize_attention(weights: bytes, heads: int, tokens: int) -> np.ndarray:
    return attention_bytes(weights, heads, tokens).astype(np.float32) / ATTENTION_LEVELS


@dataclass
class SentenceModelRows:
    """One sentence as one model sees it, ready to store."""

    tokens: Sequence[TokenRow]
    vectors: dict[int, np.ndarray]  # space_id -> [T, dim], normalised; float16 writes fastest
    attentions: np.ndarray | None  # [layers, heads, T, T]


def write_model_rows(
    session: Session,
    model_id: int,
    corpus_id: int,
    document_ids: Sequence[int],
    sentence_ids: Sequence[int],
    word_ids: Sequence[Sequence[int]],
    word_codes: Sequence[np.ndarray],
    rows: Sequence[SentenceModelRows],
) -> int:
    """Insert whole documents' tokens, vectors and attention for a model, each table
    in one COPY; mark the documents done.

    `rows[i]` belongs to sentence `sentence_ids[i]` of document `document_ids[i]`,
    whose words have `word_ids[i]` and label codes `word_codes[i]` ([words, 4],
    from `label_codes`). Returns the number of tokens written.
    """
    n_tokens = sum(len(r.tokens) for r in rows)
    token_ids = iter(_next_ids(session, "tokens", n_tokens))
    conn = driver_connection(session)
    per_sentence = []
    with conn.cursor() as cur:
        with cur.copy(
            "COPY tokens (id, sentence_id, model_id, position, text, word_id, is_special, start_char, end_char) "
            "FROM STDIN"
        ) as copy:
            for r, sentence_id, words in zip(rows, sentence_ids, word_ids, strict=True):
                ids = []
                for t in r.tokens:
                    tid = next(token_ids)
                    ids.append(tid)
                    word_id = None if t.word_index is None else words[t.word_index]
                    copy.write_row(
                        (
                            tid,
                            sentence_id,
                            model_id,
                            t.position,
                            t.text,
                            word_id,
                            t.is_special,
                            t.start_char,
                            t.end_char,
                        )
                    )
                per_sentence.append(ids)
        with cur.copy(f"COPY vectors ({VECTOR_COLUMNS}) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.write(COPY_HEADER)
            columns = _token_columns(
                corpus_id, document_ids, sentence_ids, per_sentence, word_codes, rows
            )
            for space_id in rows[0].vectors if rows else ():
                matrix = np.concatenate([r.vectors[space_id] for r in rows])
                copy.write(vector_copy_rows(space_id, columns, matrix))
            copy.write(COPY_TRAILER)
        with cur.copy(
            "COPY attentions (sentence_id, model_id, layer, heads, tokens, weights) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "int4", "int2", "int2", "int2", "bytea"])
            for r, sentence_id in zip(rows, sentence_ids, strict=True):
                if r.attentions is None:
                    continue
                layers, heads, t, _ = r.attentions.shape
                for layer in range(layers):
                    copy.write_row(
                        (
                            sentence_id,
                            model_id,
                            layer,
                            heads,
                            t,
                            quantize_attention(r.attentions[layer]),
                        )
                    )
    session.add_all(
        DocumentModel(document_id=d, model_id=model_id) for d in dict.fromkeys(document_ids)
    )
    session.flush()
    return n_tokens


def _token_columns(
    corpus_id: int,
    document_ids: Sequence[int],
    sentence_ids: Sequence[int],
    token_ids: Sequence[Sequence[int]],
    word_codes: Sequence[np.ndarray],
    rows: Sequence[SentenceModelRows],
) -> TokenColumns:
    """Whole documents' tokens as columns: one COPY block per space, not per sentence."""
    codes = []
    for r, sentence_codes in zip(rows, word_codes, strict=True):
        linked = np.array(
            [-1 if t.word_index is None else t.word_index for t in r.tokens], dtype=np.int64
        )
        token_codes = np.full((len(linked), len(LABEL_KINDS)), -1, dtype=np.int16)
        token_codes[linked >= 0] = np.asarray(sentence_codes, dtype=np.int16)[linked[linked >= 0]]
        codes.append(token_codes)
    per_sentence = [len(r.tokens) for r in rows]
    return TokenColumns(
        corpus_id=corpus_id,
        document_id=np.repeat(np.asarray(document_ids, dtype=np.int64), per_sentence),
        token_id=np.concatenate([np.asarray(ids, dtype=np.int64) for ids in token_ids]),
        sentence_id=np.repeat(np.asarray(sentence_ids, dtype=np.int64), per_sentence),
        position=np.array([t.position for r in rows for t in r.tokens], dtype=np.int16),
        codes=np.concatenate(codes),
    )


LABEL_KINDS = ("pos", "tag", "dep", "ent_type")  # the order of a code row


def label_codes(session: Session, labels: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Every stored label's code after adding `labels` ((kind, value) pairs).

    Run it in a transaction of its own before the rows that use the codes, so a
    rolled-back document never leaves codes that point nowhere.
    """
    new = [{"kind": k, "value": v} for k, v in sorted(set(labels))]
    if new:
        session.execute(
            insert(Label).values(new).on_conflict_do_nothing(index_elements=["kind", "value"])
        )
    return {(k, v): i for k, v, i in session.execute(select(Label.kind, Label.value, Label.id))}


def word_label_pairs(words: Iterable[WordRow]) -> set[tuple[str, str]]:
    return {(kind, getattr(w, kind)) for w in words for kind in LABEL_KINDS}


def word_code_rows(words: Sequence[WordRow], codes: dict[tuple[str, str], int]) -> np.ndarray:
    """[words, 4] label codes of one sentence's words, in LABEL_KINDS order."""
    return np.array(
        [[codes[(kind, getattr(w, kind))] for kind in LABEL_KINDS] for w in words], dtype=np.int16
    ).reshape(len(words), len(LABEL_KINDS))


def sentence_rows(
    session: Session, document_id: int
) -> list[tuple[int, str, list[tuple[int, WordRow]]]]:
    """A stored document's sentences with their words, to add another model without spaCy."""
    sentences = session.execute(
        text("SELECT id, text FROM sentences WHERE document_id = :d ORDER BY index"),
        {"d": document_id},
    ).all()
    words = session.execute(
        text(
            "SELECT w.sentence_id, w.id, w.index, w.text, w.lemma, w.pos, w.tag, w.dep, w.head_index, "
            "w.ent_type, w.ent_iob, w.is_stop, w.start_char, w.end_char FROM words w "
            "JOIN sentences s ON s.id = w.sentence_id WHERE s.document_id = :d ORDER BY w.sentence_id, w.index"
        ),
        {"d": document_id},
    ).all()
    by_sentence: dict[int, list[tuple[int, WordRow]]] = {sid: [] for sid, _ in sentences}
    for row in words:
        by_sentence[row[0]].append((row[1], WordRow(*row[2:])))
    return [(sid, stext, by_sentence[sid]) for sid, stext in sentences]


def index_memory(rows: int, dim: int) -> str:
    """maintenance_work_mem for building an HNSW index in memory.

    Once the graph outgrows it, pgvector goes on inserting on disk, many times
    slower: 1M 384-d vectors took 23 minutes with 512 MB and 4 with 1.6 GB.
    """
    need = int(rows * (2 * dim + 400) * 1.25) // 2**20 + 64
    return f"{min(max(need, 64), 4096)}MB"


def build_index(session: Session, space_id: int, dim: int, rows: int | None = None) -> None:
    """The HNSW index of one vector space (cosine, on the dimension-cast expression).

    Over the halfvec values themselves: an index over binary-quantised vectors
    was 3.5x smaller, but re-ranking even 1,000 of its candidates found only
    94% of the true 50 nearest at 1M rows (docs/benchmarks.md).
    """
    if rows is None:
        rows = session.scalar(text(f"SELECT count(*) FROM {partition_name(space_id)}"))
    session.execute(text(f"SET LOCAL maintenance_work_mem = '{index_memory(rows, dim)}'"))
    session.execute(
        text(
            f"CREATE INDEX IF NOT EXISTS {index_name(space_id)} ON {partition_name(space_id)} "
            f"USING hnsw ((embedding::halfvec({int(dim)})) halfvec_cosine_ops) "
            "WITH (m = 16, ef_construction = 64)"
        )
    )


def ensure_indexes(session: Session, model_id: int, min_rows: int = HNSW_MIN_ROWS) -> list[int]:
    """Build the HNSW index of every space of a model that has grown past `min_rows`."""
    built = []
    spaces = session.execute(
        select(VectorSpace.id, VectorSpace.dim).where(VectorSpace.model_id == model_id)
    ).all()
    for space_id, dim in spaces:
        if session.scalar(text("SELECT to_regclass(:n)"), {"n": index_name(space_id)}):
            continue
        rows = session.scalar(text(f"SELECT count(*) FROM {partition_name(space_id)}"))
        if rows < min_rows:
            continue
        build_index(session, space_id, dim, rows)
        built.append(space_id)
    return built


def count_sentences_stmt(document_id: int):
    from sqlalchemy import func

    from db.schema import Sentence

    return select(func.count()).select_from(Sentence).where(Sentence.document_id == document_id)
