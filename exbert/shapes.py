"""The plain data shapes every part of exbert passes around: one Word, one Token.

A word is spaCy's annotation (model independent); a token is one model's piece
of the text, linked to the word it belongs to. Ingestion writes these, the
store reads them back, the attention view and search hand them to the pages,
the API and the CLI, and `explore/serialize.py` turns them into JSON in one
place. Nothing here imports anything, so `db/` may use them too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Word:
    """spaCy's annotation of one word of a sentence."""

    index: int  # within its sentence
    text: str
    lemma: str
    pos: str
    tag: str
    dep: str
    head_index: int  # index of the head word within the sentence (itself for the root)
    ent_type: str
    ent_iob: str
    is_stop: bool
    start: int  # character offsets within the sentence
    end: int
    head_text: str = ""  # the head word's text, for reading; not stored (derived)


@dataclass(frozen=True)
class Token:
    """One model token: where it lies in the text and the word it belongs to."""

    position: int  # within the model's input, special tokens included
    text: str  # as the tokenizer writes it (e.g. '##ing', 'Ġcat')
    is_special: bool  # [CLS], [SEP], <s>...: no word
    start: int  # character offsets within the sentence (start == end for special tokens)
    end: int
    word: Word | None = None  # None for special tokens and before spaCy has read the text

    @property
    def word_index(self) -> int | None:
        return None if self.word is None else self.word.index


@dataclass(frozen=True)
class Sentence:
    """One sentence of a document with spaCy's words (their offsets within the sentence)."""

    text: str
    start: int  # offset of the sentence in its document
    words: list[Word]
