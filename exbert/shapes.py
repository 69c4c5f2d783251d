"""The plain data shapes every part of exbert passes around: one Word, one Token.

A word is spaCy's annotation (model independent); a token is one model's piece
of the text, linked to the word it belongs to. Ingestion writes these, the
store reads them back, the attention view and search hand them to the pages,
the API and the CLI, and `explore/serialize.py` turns them into JSON in one
place. Nothing here imports anything, so `db/` may use them too.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


def _from_values(cls: type, names: tuple[str, ...], values: tuple) -> object:
    """An instance of a frozen dataclass from all its field values, in order, without the
    frozen __init__'s setattr per field: twice as fast, and a search's answer builds
    ~3,500 of them."""
    obj = object.__new__(cls)
    obj.__dict__.update(zip(names, values, strict=True))
    return obj


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

    @classmethod
    def from_values(cls, values: tuple) -> Word:
        """A word from every field's value, in order (as the store reads them)."""
        return _from_values(cls, _WORD_FIELDS, values)


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

    @classmethod
    def from_values(cls, values: tuple) -> Token:
        """A token from every field's value, in order (as the store reads them)."""
        return _from_values(cls, _TOKEN_FIELDS, values)


_WORD_FIELDS = tuple(f.name for f in fields(Word))
_TOKEN_FIELDS = tuple(f.name for f in fields(Token))


@dataclass(frozen=True)
class Sentence:
    """One sentence of a document with spaCy's words (their offsets within the sentence)."""

    text: str
    start: int  # offset of the sentence in its document
    words: list[Word]
