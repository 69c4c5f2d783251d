"""Corpora as a person manages them: what is stored, adding documents as a job,
following and cancelling jobs, removing a corpus or one model's rows of it.

Every input is checked here, for the Corpora page and any other face: uploads are
decoded as the command line's readers decode files, names are bounded, the model
must pass the allow-list (explore/models.py).
"""

from __future__ import annotations

import base64
import binascii
import unicodedata
from dataclasses import dataclass

from sqlalchemy import text

from db import jobs, removal, stats
from explore.errors import UserError
from explore.models import ModelCatalog
from explore.store import Store
from ingest.readers import RawDocument, ReadError, decode, read_jsonl

MAX_UPLOAD_BYTES = 20 * 2**20  # per request from the page; bigger inputs: exbert ingest
MAX_NAME = 100


@dataclass(frozen=True)
class CorpusRow:
    corpus: str
    documents: int
    sentences: int
    model: str | None
    model_documents: int
    tokens: int
    bytes: int  # the model's vectors' share for this corpus, by tokens


def overview(store: Store) -> list[CorpusRow]:
    with store.transaction() as s:
        counts = stats.corpus_counts(s)
        sizes = stats.model_bytes(s)
    model_tokens: dict[str, int] = {}
    for r in counts:
        if r.model:
            model_tokens[r.model] = model_tokens.get(r.model, 0) + r.tokens
    return [
        CorpusRow(
            r.corpus,
            r.documents,
            r.sentences,
            r.model,
            r.model_documents,
            r.tokens,
            round(sizes.get(r.model, 0) * r.tokens / model_tokens[r.model])
            if r.model and model_tokens[r.model]
            else 0,
        )  # fmt: skip
        for r in counts
    ]


def check_name(value: object, what: str = "corpus") -> str:
    """A corpus name a person can type and read back: any letters, quotes included, no
    control characters, at most MAX_NAME characters."""
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"Give a {what} name.")
    name = value.strip()
    if len(name) > MAX_NAME:
        raise UserError(f"A {what} name has at most {MAX_NAME} characters.")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise UserError(f"A {what} name cannot hold control characters.")
    return name


def documents_from_upload(
    files: list[tuple[str, str]], pasted: str | None
) -> tuple[list[RawDocument], list[ReadError]]:
    """Documents from the page's inputs: uploaded files as (name, data URL), .txt (one
    document) or .jsonl (one a line), and pasted text (one document)."""
    docs: list[RawDocument] = []
    errors: list[ReadError] = []
    total = 0
    for name, contents in files:
        name = str(name)[:200]
        try:
            data = base64.b64decode(str(contents).split(",", 1)[1], validate=True)
        except (IndexError, binascii.Error, ValueError):
            errors.append(ReadError(name, "could not be read from the upload"))
            continue
        total += len(data)
        if total > MAX_UPLOAD_BYTES:
            raise UserError(
                f"The upload is over {MAX_UPLOAD_BYTES // 2**20} MB; add big corpora with "
                "exbert ingest --corpus NAME --queue PATH (any size), from any machine."
            )
        if name.endswith(".jsonl"):
            for item in read_jsonl(None, iter(data.splitlines())):
                if isinstance(item, RawDocument):
                    item = RawDocument(
                        f"{name}{item.source.removeprefix('stdin')}", item.text, item.meta
                    )
                    docs.append(item)
                else:
                    errors.append(ReadError(name + item.source.removeprefix("stdin"), item.message))
        else:
            text_ = decode(data, name)
            if isinstance(text_, ReadError):
                errors.append(text_)
            else:
                docs.append(RawDocument(name, text_, {"file": name}))
    if pasted and pasted.strip():
        if len(pasted) > MAX_UPLOAD_BYTES:
            raise UserError(
                "The pasted text is too long; upload it as a file or use exbert ingest."
            )
        docs.append(RawDocument("pasted", pasted, {}))
    return docs, errors


def add_documents(
    store: Store,
    models: ModelCatalog,
    corpus: object,
    model: object,
    layers: list[int] | None,
    files: list[tuple[str, str]],
    pasted: str | None,
) -> tuple[int, list[ReadError]]:
    """Queue the documents as a job (workers ingest it); returns the job and what could
    not be read. Nothing is queued when nothing could be read."""
    corpus = check_name(corpus)
    model = models.check(model)
    docs, errors = documents_from_upload(files, pasted)
    if not docs:
        reasons = "; ".join(f"{e.source} {e.message}" for e in errors[:5])
        raise UserError(f"Nothing to add: {reasons}" if reasons else "Upload files or paste text.")
    with store.transaction() as s:
        job_id = jobs.enqueue(
            s, corpus, model,
            [{"source": d.source, "text": d.text, "meta": d.meta} for d in docs],
            layers, origin="browser", rejected=[(e.source, e.message) for e in errors],
        )  # fmt: skip
    return job_id, errors


def recent_jobs(store: Store, limit: int = 20) -> list[jobs.JobProgress]:
    with store.transaction() as s:
        return jobs.progress(s, limit=limit)


def cancel_job(store: Store, job_id: object) -> None:
    if isinstance(job_id, bool) or not isinstance(job_id, int):
        raise UserError("No such job.")
    with store.transaction() as s:
        if not jobs.cancel(s, job_id):
            raise UserError(f"No job {job_id}.")


def _ids(s, corpus: str, model: str | None) -> tuple[int, int | None]:
    corpus_id = s.scalar(text("SELECT id FROM corpora WHERE name = :c"), {"c": corpus})
    if corpus_id is None:
        raise UserError(f"No corpus named {corpus[:100]!r}.")
    model_id = None
    if model is not None:
        model_id = s.scalar(text("SELECT id FROM models WHERE name = :m"), {"m": model})
        if model_id is None:
            raise UserError(f"No model {model[:100]!r} in the store.")
    busy = s.scalar(
        text(
            "SELECT count(*) FROM job_progress WHERE corpus = :c AND status IN ('queued', 'running')"
        ),
        {"c": corpus},
    )
    if busy:
        raise UserError(f"{corpus!r} has {busy} job(s) queued or running; cancel them first.")
    return corpus_id, model_id


def delete(store: Store, corpus: object, model: object = None) -> str:
    """Remove a corpus, or (with `model`) that model's rows of it; what was removed."""
    corpus = check_name(corpus)
    model = None if model in (None, "") else check_name(model, "model")
    with store.transaction() as s:
        corpus_id, model_id = _ids(s, corpus, model)
        if model_id is None:
            removal.delete_corpus(s, corpus_id)
            return f"Corpus {corpus!r} removed."
        removal.delete_model_rows(s, corpus_id, model_id)
        return f"{model}'s tokens, vectors and attention of {corpus!r} removed."


def distribution(store: Store, corpus: object) -> dict[str, list[tuple[str, int]]]:
    corpus = check_name(corpus)
    with store.transaction() as s:
        return {kind: stats.label_distribution(s, corpus, kind) for kind in ("pos", "ent_type")}
