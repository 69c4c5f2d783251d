"""The text side of ingestion: documents -> sentences with spaCy's annotations.

Runs in the ingesting process, or in spaCy's helper process (ingest/spacy_process.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from exbert.annotate import split_sentences
from exbert.shapes import Sentence

# Sentences longer than this are not stored: nobody reads them as one
# sentence, and a 1 MB line would otherwise become one giant "sentence".
MAX_SENTENCE_CHARS = 2_000
# spaCy refuses texts over nlp.max_length (1M characters); longer documents
# are annotated in pieces cut at line breaks or spaces.
MAX_CHUNK_CHARS = 100_000


def chunk_text(text: str, limit: int = MAX_CHUNK_CHARS) -> list[tuple[int, str]]:
    """Split a long text into (offset, piece) at line breaks, else spaces, else anywhere."""
    pieces, start = [], 0
    while len(text) - start > limit:
        window = text[start : start + limit]
        cut = max(window.rfind("\n"), window.rfind(". "))
        if cut < limit // 2:
            cut = window.rfind(" ")
        cut = limit if cut <= 0 else cut + 1
        pieces.append((start, text[start : start + cut]))
        start += cut
    pieces.append((start, text[start:]))
    return pieces


def annotate_documents(
    texts: Sequence[str], nlp, limit: int = MAX_CHUNK_CHARS
) -> list[list[Sentence]]:
    """Sentences of each document, chunked (`limit` characters) where spaCy would refuse
    the length."""
    out = []
    for text in texts:
        sentences: list[Sentence] = []
        chunks = chunk_text(text, limit)
        for (offset, _), chunk_sentences in zip(
            chunks, split_sentences([c for _, c in chunks], nlp), strict=True
        ):
            sentences.extend(Sentence(s.text, s.start + offset, s.words) for s in chunk_sentences)
        out.append(sentences)
    return out
