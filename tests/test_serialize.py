"""The JSON of tokens and words: every field of the shapes, by name, and nothing else
(serialize.py copies the instances' own dicts, which must stay their fields)."""

from dataclasses import fields

import pytest

from exbert.shapes import Token, Word
from explore.serialize import token_json, word_json


def test_a_token_and_its_word_serialise_as_exactly_their_fields():
    word = Word(1, "cat", "cat", "NOUN", "NN", "nsubj", 2, "", "O", False, 4, 7, "sat")
    token = Token(2, "cat", False, 4, 7, word)
    out = token_json(token)
    assert list(out) == [f.name for f in fields(Token)]
    assert out["word"] == {f.name: getattr(word, f.name) for f in fields(Word)}
    assert list(out["word"]) == [f.name for f in fields(Word)]
    assert token.word_index == 1 and list(token_json(token)) == list(out)  # a property adds nothing
    out["word"]["pos"] = "VERB"  # the JSON is a copy: the stored word stays as it was
    assert word.pos == "NOUN" and word_json(word)["pos"] == "NOUN"
    special = token_json(Token(0, "[CLS]", True, 0, 0))
    assert special == {
        "position": 0, "text": "[CLS]", "is_special": True, "start": 0, "end": 0, "word": None
    }  # fmt: skip


def test_shapes_built_from_stored_values_equal_those_built_field_by_field():
    values = (1, "cat", "cat", "NOUN", "NN", "nsubj", 2, "", "O", False, 4, 7, "sat")
    word = Word.from_values(values)
    assert word == Word(*values) and hash(word) == hash(Word(*values))
    token = Token.from_values((2, "cat", False, 4, 7, word))
    assert token == Token(2, "cat", False, 4, 7, Word(*values)) and token.word_index == 1
    with pytest.raises(ValueError):
        Word.from_values(values[:-1])  # every field, none defaulted
    with pytest.raises(AttributeError):
        token.text = "dog"  # still frozen
