"""Readers turn inputs into documents: .txt files, .jsonl lines, stdin, the
Wikipedia sample that ships with gensim. Bad input becomes a `ReadError`
naming the file and the problem, never a half-read document."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class RawDocument:
    source: str
    text: str
    meta: dict = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ReadError:
    source: str
    message: str


def decode(data: bytes, source: str) -> str | ReadError:
    if b"\x00" in data[:65536]:
        return ReadError(source, "looks binary (contains NUL bytes); exbert reads UTF-8 text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        return ReadError(
            source, f"is not UTF-8 (invalid byte at offset {err.start}); convert it with iconv"
        )
    if not text.strip():
        return ReadError(source, "is empty")
    return text


def read_txt(path: Path) -> Iterator[RawDocument | ReadError]:
    try:
        data = path.read_bytes()
    except OSError as err:
        yield ReadError(str(path), f"cannot be read: {err.strerror or err}")
        return
    text = decode(data, str(path))
    yield text if isinstance(text, ReadError) else RawDocument(str(path), text, {"file": path.name})


def read_jsonl(
    path: Path | None, lines: Iterator[bytes] | None = None
) -> Iterator[RawDocument | ReadError]:
    """One document per line: {"id": ..., "text": ..., "meta": {...}}."""
    name = str(path) if path else "stdin"
    if lines is None:
        try:
            handle = path.open("rb")
        except OSError as err:
            yield ReadError(name, f"cannot be read: {err.strerror or err}")
            return
        lines = handle
    for number, raw in enumerate(lines, 1):
        where = f"{name}:{number}"
        line = decode(raw, where)
        if isinstance(line, ReadError):
            if raw.strip():
                yield line
            continue
        try:
            record = json.loads(line)
            text = record["text"]
            if not isinstance(text, str):
                raise TypeError("text is not a string")
        except (ValueError, KeyError, TypeError) as err:
            yield ReadError(where, f'is not a JSON object with a "text" string ({err})')
            continue
        if not text.strip():
            yield ReadError(where, "has empty text")
            continue
        meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
        doc_id = str(record.get("id", number))
        yield RawDocument(f"{name}#{doc_id}", text, {**meta, "id": doc_id})


def read_stdin() -> Iterator[RawDocument | ReadError]:
    """stdin: JSON lines when the first character is '{', else one text document."""
    data = sys.stdin.buffer.read()
    if data.lstrip().startswith(b"{"):
        yield from read_jsonl(None, iter(data.splitlines()))
        return
    text = decode(data, "stdin")
    yield text if isinstance(text, ReadError) else RawDocument("stdin", text)


def read_path(path: str) -> Iterator[RawDocument | ReadError]:
    if path == "-":
        yield from read_stdin()
        return
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.suffix in (".txt", ".jsonl") and f.is_file())
        if not files:
            yield ReadError(path, "is a folder with no .txt or .jsonl files")
        for f in files:
            yield from read_path(str(f))
    elif not p.exists():
        yield ReadError(path, "does not exist")
    elif p.suffix == ".jsonl":
        yield from read_jsonl(p)
    else:
        yield from read_txt(p)


WIKI_SAMPLE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


def read_wiki_sample() -> Iterator[RawDocument]:
    """The Wikipedia sample shipped with gensim (106 articles, CC BY-SA): one document per paragraph."""
    import bz2

    from gensim.corpora.wikicorpus import extract_pages, filter_wiki
    from gensim.test.utils import datapath

    with bz2.open(datapath(WIKI_SAMPLE), "rb") as handle:
        for title, markup, page_id in extract_pages(handle):
            if not markup or markup.lower().startswith("#redirect"):
                continue
            text = filter_wiki(markup)
            paragraphs = [_clean(p) for p in text.split("\n\n")]
            paragraphs = [
                p for p in paragraphs if len(p) > 80 and not p.startswith(("|", "{", "*", "="))
            ]
            for i, paragraph in enumerate(paragraphs):
                yield RawDocument(
                    f"wiki:{title}#{i}",
                    paragraph,
                    {"title": title, "page_id": page_id, "paragraph": i},
                )


def _clean(paragraph: str) -> str:
    lines = [line.strip() for line in paragraph.splitlines()]
    lines = [
        line
        for line in lines
        if line and not line.startswith(("*", "|", "!", "{", "}", "=", "#", ":"))
    ]
    joined = " ".join(lines).replace("'''", "").replace("''", "")
    return " ".join(joined.split())
