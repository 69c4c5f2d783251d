"""The model runner against tiny offline models: every number is recomputed
independently from the model's own modules."""

import numpy as np
import pytest
import torch

from exbert.model import ModelError, detect_kind, load_model
from exbert.vectors import context_query, half, half_unit, unit, unit_heads

SENTENCE = "The cat sat on the mat in New York."


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    t, d = x.shape
    return x.view(t, heads, d // heads).transpose(0, 1)  # [H, T, dh]


def _values(runner, layer: int, hidden_in: torch.Tensor) -> torch.Tensor:
    """Each head's value vectors [H, T, dh], from the value projection alone."""
    m = runner.model
    if runner.model_type == "bert":
        bert = m.bert if hasattr(m, "bert") else m
        return _split_heads(bert.encoder.layer[layer].attention.self.value(hidden_in), runner.heads)
    if runner.model_type == "gpt2":
        block = m.transformer.h[layer]
        qkv = block.attn.c_attn(block.ln_1(hidden_in))
        v = qkv.split(runner.hidden_size, dim=-1)[2]
        return _split_heads(v, runner.heads)
    if runner.model_type == "llama":
        block = m.model.layers[layer]
        v = block.self_attn.v_proj(block.input_layernorm(hidden_in))
        kv_heads = runner.config.num_key_value_heads
        v = _split_heads(v, kv_heads)
        return v.repeat_interleave(runner.heads // kv_heads, dim=0)  # grouped-query attention
    raise AssertionError(runner.model_type)


@pytest.mark.parametrize("kind", ["bert-mlm", "bert-encoder", "gpt2", "llama"])
def test_attentions_hidden_and_contexts_match_the_model(tiny_models, kind):
    runner = load_model(tiny_models[kind])
    a = runner.analyze(SENTENCE)
    n = len(a.tokens)
    assert a.attentions.shape == (runner.layers, runner.heads, n, n)
    assert a.hidden_states.shape == (runner.layers + 1, n, runner.hidden_size)
    assert a.contexts.shape == (runner.layers, n, runner.hidden_size)

    enc = runner.tokenizer(SENTENCE, return_tensors="pt")
    with torch.no_grad():
        out = runner.model(**enc, output_attentions=True, output_hidden_states=True)
    for layer in range(runner.layers):
        np.testing.assert_allclose(a.attentions[layer], out.attentions[layer][0].numpy(), atol=1e-6)
    np.testing.assert_allclose(a.hidden_states[-1], out.hidden_states[-1][0].numpy(), atol=1e-5)
    # rows of attention are distributions
    np.testing.assert_allclose(a.attentions.sum(-1), 1.0, atol=1e-5)

    with torch.no_grad():
        for layer in range(runner.layers):
            hidden_in = torch.from_numpy(a.hidden_states[layer])
            v = _values(runner, layer, hidden_in)  # [H, T, dh]
            expected = torch.einsum("hqk,hkd->qhd", torch.from_numpy(a.attentions[layer]), v)
            got = a.contexts[layer].reshape(n, runner.heads, -1)
            np.testing.assert_allclose(got, expected.numpy(), atol=1e-5)


def test_masked_lm_predictions_agree_with_logits_and_masking_changes_input(tiny_models):
    runner = load_model(tiny_models["bert-mlm"])
    assert runner.kind == "mlm"
    a = runner.analyze(SENTENCE, masks=[2])
    assert a.masks == (2,)
    mask_id = runner.tokenizer.mask_token_id
    ids = runner.tokenizer(SENTENCE, return_tensors="pt")["input_ids"]
    assert ids[0, 2] != mask_id
    ids[0, 2] = mask_id
    with torch.no_grad():
        logits = runner.model(input_ids=ids).logits[0]
    probs = logits.softmax(-1)
    top = probs[2].topk(5)
    assert [p for _, p in a.predictions[2]] == pytest.approx(top.values.tolist(), abs=1e-6)
    assert [t for t, _ in a.predictions[2]] == [
        runner.tokenizer.decode([i]) for i in top.indices.tolist()
    ]
    unmasked = runner.analyze(SENTENCE)
    assert not np.allclose(unmasked.attentions, a.attentions)


def test_causal_lm_predicts_the_next_token(tiny_models):
    runner = load_model(tiny_models["gpt2"])
    assert runner.kind == "causal"
    a = runner.analyze(SENTENCE)
    enc = runner.tokenizer(SENTENCE, return_tensors="pt")
    with torch.no_grad():
        probs = runner.model(**enc).logits[0].softmax(-1)
    for pos in (0, len(a.tokens) - 1):
        top = probs[pos].topk(5)
        assert [p for _, p in a.predictions[pos]] == pytest.approx(top.values.tolist(), abs=1e-6)
    with pytest.raises(ModelError, match="no mask token"):
        runner.analyze(SENTENCE, masks=[1])


def test_encoder_without_head_says_so(tiny_models):
    runner = load_model(tiny_models["bert-encoder"])
    assert runner.kind == "encoder" and not runner.has_lm_head
    a = runner.analyze(SENTENCE)
    assert a.predictions is None and not a.has_predictions


def test_batch_equals_single(tiny_models):
    runner = load_model(tiny_models["llama"])
    texts = ["A dog barked.", SENTENCE, "Short"]
    batch = runner.analyze_batch(texts)
    for text, b in zip(texts, batch, strict=True):
        single = runner.analyze(text)
        assert [t.text for t in single.tokens] == [t.text for t in b.tokens]
        np.testing.assert_allclose(single.attentions, b.attentions, atol=1e-5)
        np.testing.assert_allclose(single.contexts, b.contexts, atol=1e-4)


def test_truncation_is_reported(tiny_models):
    runner = load_model(tiny_models["bert-mlm"])
    a = runner.analyze("cat " * 500)
    assert a.truncated and len(a.tokens) == runner.max_tokens
    assert not runner.analyze(SENTENCE).truncated


@pytest.mark.parametrize("bad", ["", "   ", "\n\t"])
def test_empty_input_is_refused(tiny_models, bad):
    with pytest.raises(ModelError, match="empty"):
        load_model(tiny_models["bert-mlm"]).analyze(bad)


def test_bad_masks_are_refused(tiny_models):
    runner = load_model(tiny_models["bert-mlm"])
    for pos in (0, 99, -1):  # 0 is [CLS]
        with pytest.raises(ModelError, match="Cannot mask"):
            runner.analyze(SENTENCE, masks=[pos])


def test_unknown_model_has_a_clear_message(tmp_path):
    with pytest.raises(ModelError, match="Could not load model"):
        load_model("no-such-org/no-such-model")
    (tmp_path / "config.json").write_text("{ not json")
    # the cause, in the loader's words: a person mends the file it names
    with pytest.raises(ModelError, match=r"OSError: .*config\.json' is not a valid JSON file"):
        load_model(str(tmp_path))


def test_models_load_once(tiny_models):
    assert load_model(tiny_models["gpt2"]) is load_model(tiny_models["gpt2"])


def test_loading_a_model_or_spacy_freezes_what_they_hold(tmp_path):
    """A loaded model or spaCy pipeline is frozen out of full collections (they paused
    searches for 300 ms), and young collections are rarer than Python's default: the
    loads themselves must do it."""
    import gc

    from exbert import memory
    from exbert.annotate import load_spacy
    from tests import tiny

    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    load_model(str(tiny.build("gpt2", tmp_path / "fresh")))  # a model not loaded before
    frozen = gc.get_freeze_count()
    assert frozen > 100_000  # torch, transformers and the model
    assert gc.get_threshold()[0] == memory.YOUNG_THRESHOLD
    assert len(gc.get_objects()) < frozen / 2  # what a full collection still walks

    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    load_spacy.cache_clear()
    load_spacy()
    assert gc.get_freeze_count() > 100_000 and gc.get_threshold()[0] == memory.YOUNG_THRESHOLD


def test_detect_kind():
    assert detect_kind(["BertForMaskedLM"]) == "mlm"
    assert detect_kind(["GPT2LMHeadModel"]) == "causal"
    assert detect_kind(["LlamaForCausalLM"]) == "causal"
    assert detect_kind(["BertModel"]) == "encoder"
    assert detect_kind(None) == "encoder"


def test_context_query_ranks_by_mean_per_head_cosine():
    rng = np.random.default_rng(0)
    heads, dh = 4, 8
    q = rng.normal(size=heads * dh)
    stored = unit_heads(rng.normal(size=(50, heads * dh)), heads)
    selected = [1, 3]
    query = context_query(q, heads, selected)
    cos = stored @ query / np.linalg.norm(stored, axis=1)  # cosine, as pgvector computes it
    qh = unit(q.reshape(heads, dh))
    mean = np.mean([stored.reshape(50, heads, dh)[:, h] @ qh[h] for h in selected], axis=0)
    assert np.argsort(-cos).tolist() == np.argsort(-mean).tolist()
    np.testing.assert_allclose(cos * np.sqrt(heads / len(selected)), mean, atol=1e-5)


def _zero_value_heads(runner, ablate):
    """Switch heads off by other means: zero their slices of the value projection's output
    (each head's context is its attention times its values, so it is then zero)."""
    handles = []
    for layer, heads in ablate.items():
        if runner.model_type == "bert":
            module = runner.model.bert.encoder.layer[layer].attention.self.value
            width = runner.hidden_size // runner.heads

            def hook(_m, _args, out, heads=heads, width=width):
                out = out.clone()
                for h in heads:
                    out[..., h * width : (h + 1) * width] = 0
                return out
        else:  # gpt2: c_attn's output is [query | key | value]
            module = runner.model.transformer.h[layer].attn.c_attn
            width = runner.hidden_size // runner.heads

            def hook(_m, _args, out, heads=heads, width=width, hidden=runner.hidden_size):
                out = out.clone()
                for h in heads:
                    out[..., 2 * hidden + h * width : 2 * hidden + (h + 1) * width] = 0
                return out

        handles.append(module.register_forward_hook(hook))
    return handles


@pytest.mark.parametrize("kind", ["bert-mlm", "bert-encoder", "gpt2", "llama"])
def test_one_layers_vectors_equal_the_whole_runs_and_the_pass_stops_there(tiny_models, kind):
    """A search's query from a sentence not analysed before: the model runs only as far
    as the searched layer, and the vectors are the whole pass's."""
    runner = load_model(tiny_models[kind])
    text = "The quick brown fox jumps over the lazy dog."
    whole = runner.analyze(text)
    blocks = next(
        m for m in runner.model.modules()
        if isinstance(m, torch.nn.ModuleList) and len(m) == runner.layers
    )  # fmt: skip
    ran: list[int] = []
    handles = [
        b.register_forward_hook(lambda *_, i=i: ran.append(i), prepend=True)
        for i, b in enumerate(blocks)
    ]
    try:
        for layer in range(runner.layers):
            for what, expected in (
                ("hidden", whole.hidden_states[layer + 1]),
                ("context", whole.contexts[layer]),
            ):
                ran.clear()
                got = runner.layer_vectors(text, layer, what)
                assert got.text == text and not got.truncated
                assert [t.__dict__ for t in got.tokens] == [t.__dict__ for t in whole.tokens]
                assert got.vectors.dtype == np.float32
                np.testing.assert_allclose(got.vectors, expected, atol=1e-5)
                last = layer == runner.layers - 1 and what == "hidden"
                # the layer's own block runs (its attention, for a context), no later one
                assert ran == list(range(runner.layers if last else layer + (what == "hidden")))
    finally:
        for h in handles:
            h.remove()
    long = runner.layer_vectors("word " * (runner.max_tokens + 10), 0, "context")
    assert long.truncated and len(long.tokens) == len(long.vectors) == runner.max_tokens
    # a layer's hidden states unless told otherwise
    np.testing.assert_allclose(
        runner.layer_vectors(text, 0).vectors, whole.hidden_states[1], atol=1e-5
    )
    # a normal pass after a stopped one is whole (no stop left behind)
    again = runner.analyze(text)
    np.testing.assert_allclose(again.hidden_states, whole.hidden_states, atol=1e-6)
    assert len(again.contexts) == runner.layers
    with pytest.raises(ModelError, match=rf"^layer must be between 0 and {runner.layers - 1} "):
        runner.layer_vectors(text, runner.layers, "hidden")
    with pytest.raises(ModelError, match="kind"):
        runner.layer_vectors(text, 0, "attention")
    with pytest.raises(ModelError, match=r"^The input is empty: type a sentence\.$"):
        runner.layer_vectors("  ", 0, "hidden")


@pytest.mark.parametrize("kind", ["bert-mlm", "gpt2"])
def test_switching_heads_off_equals_zeroing_their_values(tiny_models, kind):
    runner = load_model(tiny_models[kind])
    text = "The cat sat on the mat."
    ablate = {0: [1, 3], 1: [2]}
    switched = runner.analyze(text, ablate=ablate)
    handles = _zero_value_heads(runner, ablate)
    try:
        enc = runner.tokenizer(text, return_tensors="pt")
        with torch.inference_mode():
            reference = runner.model(**enc, output_attentions=True)
    finally:
        for h in handles:
            h.remove()
    expected = reference.logits[0].softmax(-1)
    top = expected.topk(5, dim=-1)
    got = switched.predictions
    for t in range(len(got)):
        assert [p for _, p in got[t]] == pytest.approx(top.values[t].tolist(), abs=1e-5)
    plain = runner.analyze(text)
    assert plain.predictions != switched.predictions  # switching heads off changes something
    nothing = runner.analyze(text, ablate={})
    np.testing.assert_array_equal(nothing.attentions, plain.attentions)
    assert nothing.predictions == plain.predictions
    # contexts of switched-off heads are zero; a later forward is whole again
    dh = runner.context_dim // runner.heads
    assert not switched.contexts[0][:, 1 * dh : 2 * dh].any()
    assert runner.analyze(text).predictions == plain.predictions
    # a pass that fails midway, heads switched off, leaves none off (nor contexts) behind,
    # for the runner's next pass and for anyone calling the model itself
    enc = runner.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        clean = runner.model(**enc).logits
    blocks = next(
        m for m in runner.model.modules()
        if isinstance(m, torch.nn.ModuleList) and len(m) == runner.layers
    )  # fmt: skip

    def fail(*_):
        raise RuntimeError("out of memory, say")

    handle = blocks[-1].register_forward_hook(fail)
    try:
        with pytest.raises(RuntimeError, match="out of memory"):
            runner.analyze(text, ablate=ablate)
    finally:
        handle.remove()
    with torch.inference_mode():
        torch.testing.assert_close(runner.model(**enc).logits, clean)
    after = runner.analyze(text)
    assert after.predictions == plain.predictions and len(after.contexts) == runner.layers


def test_switching_off_heads_that_do_not_exist_is_refused(tiny_models):
    runner = load_model(tiny_models["bert-mlm"])
    for layer in (5, runner.layers, -1):  # one past the last, too
        with pytest.raises(ModelError, match="layers 0-1"):
            runner.analyze("The cat.", ablate={layer: [0]})
    for head in (9, runner.heads, -1):
        with pytest.raises(ModelError, match="between 0 and 3"):
            runner.analyze("The cat.", ablate={0: [head]})
    runner.analyze("The cat.", ablate={runner.layers - 1: [runner.heads - 1]})  # the last: taken


def test_vectors_are_unit_length_per_head_and_stored_in_half_precision():
    rng = np.random.default_rng(3)
    v = rng.normal(size=(3, 8)).astype(np.float32) * 5
    v[1] = 0.0
    u = unit(v)
    np.testing.assert_allclose(np.linalg.norm(u, axis=-1), [1.0, 0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(u[0] * np.linalg.norm(v[0]), v[0], rtol=1e-5)
    per_head = unit_heads(v, 2).reshape(3, 2, 4)
    np.testing.assert_allclose(np.linalg.norm(per_head[[0, 2]], axis=-1), 1.0, atol=1e-6)
    assert not per_head[1].any()  # a zero vector stays zero, no division by zero
    stored = half(u)
    assert stored.dtype == np.float16 and stored.shape == u.shape
    np.testing.assert_allclose(stored, u, atol=1e-3)
    # ingestion's one-pass version: the same float16 values, a zero vector still zero
    for heads in (1, 2):
        fast = half_unit(v, heads)
        assert fast.dtype == np.float16 and fast.shape == v.shape and not fast[1].any()
        np.testing.assert_allclose(fast, half(unit_heads(v, heads)), rtol=0, atol=1e-3)
    q = context_query(v[0], 2, [1])
    assert not q[:4].any() and np.isclose(np.linalg.norm(q), 1.0)
    np.testing.assert_allclose(q[4:], unit(v[0][4:]), atol=1e-6)
    with pytest.raises(ValueError, match="at least one head"):
        context_query(v[0], 2, [])


def test_attention_views_run_once_mask_switch_heads_off_and_read_words(tiny_models):
    """The attention page's data without a database: one model run per input, masks
    and switched-off heads in the key, spaCy's words linked when asked for or ready."""
    import time

    from explore.attention import MAX_CHARS, AttentionViews
    from explore.errors import UserError
    from explore.models import ModelCatalog

    model = tiny_models["bert-mlm"]
    views = AttentionViews(ModelCatalog(model, extra=[model]))
    sentence = "The cat sat on the mat."
    first = views.view(model, sentence, words=False)
    assert not first.annotated and all(t.word is None for t in first.tokens)
    assert views.view(model, sentence, words=False) is first  # cached
    assert first.kind == "mlm" and first.layers == first.attentions.shape[0]
    assert first.heads == first.attentions.shape[1] and first.mask_token
    assert first.sentence == sentence and not first.truncated
    np.testing.assert_allclose(first.attentions.sum(-1), 1.0, atol=1e-4)
    run = views.run(model, sentence)
    assert views.run(model, sentence) is run and run.attentions is first.attentions
    # a search's query: the analysed sentence's run, no pass of its own
    kept = views.layer_vectors(model, sentence, 1, "context")
    assert np.shares_memory(kept.vectors, run.contexts) and kept.tokens is run.tokens
    assert kept.text == sentence and kept.truncated is False  # the text a search excludes
    other = "A sentence nobody analysed."
    part = views.layer_vectors(model, other, 0, "hidden")
    assert not np.shares_memory(part.vectors, run.hidden_states) and part.text == other
    assert (views.models.runner(model).name, other, ()) not in views._runs  # not kept
    with pytest.raises(UserError, match="layer"):
        views.layer_vectors(model, other, 99, "hidden")

    views.annotate_later(sentence)
    deadline = time.monotonic() + 30
    while not views.words_ready(sentence):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not views.claim_reading(sentence)  # read already: nobody reads it again
    annotated = views.view(model, sentence, words=False)  # ready now: linked
    assert annotated.annotated and annotated is not first
    assert [t.word.text for t in annotated.tokens if t.word][:3] == ["The", "cat", "sat"]
    assert views.view(model, sentence) is annotated

    masked = views.view(model, sentence, masks=[2, 2])
    assert masked.masks == (2,) and masked.masked(2) and masked is not annotated
    assert masked.predictions and masked.predictions != annotated.predictions

    plain = views.ablated(model, sentence, [2], {})
    assert plain == views.run(model, sentence, [2]).predictions
    off = views.ablated(model, sentence, [2], {0: list(range(first.heads)), 1: [0]})
    assert off and off != plain
    assert views.ablated(model, sentence, [2], {1: [0], 0: list(range(first.heads))[::-1]}) == off

    long = views.view(model, "word " * (MAX_CHARS // 5 + 10), words=False)
    assert long.truncated
    assert views.layer_vectors(model, "word " * (MAX_CHARS // 5 + 10), 0, "hidden").truncated
    with pytest.raises(UserError, match="NUL"):
        views.view(model, "a\x00b")
    with pytest.raises(UserError):
        views.run("not-a-model", sentence)
    views.clear()
    assert views.view(model, sentence, words=False) is not first


def test_devices_auto_cpu_and_a_clear_error_for_a_missing_gpu():
    from exbert.model import pick_device

    assert pick_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert pick_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA GPU is visible"):
            pick_device("cuda")
    with pytest.raises(ModelError, match="Unknown device 'tpu'; use auto, cpu or cuda"):
        pick_device("tpu")


def test_the_input_limit_is_the_smallest_sane_one(tiny_models, monkeypatch):
    """The cap, the tokenizer's limit unless it is a "no limit" placeholder, and the
    model's positions (max_position_embeddings or GPT-2's n_positions)."""
    import exbert.model

    for kind in ("bert-mlm", "gpt2"):
        runner = load_model(tiny_models[kind])
        assert runner.max_tokens == 64  # the tiny models' positions
        monkeypatch.setattr(runner.tokenizer, "model_max_length", int(1e30))
        assert runner._max_tokens() == 64
        monkeypatch.setattr(runner.tokenizer, "model_max_length", 16)
        assert runner._max_tokens() == 16
        monkeypatch.setattr(exbert.model, "MAX_TOKENS", 8)
        assert runner._max_tokens() == 8
        monkeypatch.undo()


def test_a_model_family_without_a_known_output_projection_is_refused(tiny_models, monkeypatch):
    from exbert.hooks import CONTEXT_MODULES
    from exbert.model import ModelRunner

    path = tiny_models["bert-mlm"]
    monkeypatch.delitem(CONTEXT_MODULES, "bert")
    with pytest.raises(ModelError, match=r"'bert' is not in exbert's table .*supported: \["):
        ModelRunner("tiny", path)
    monkeypatch.setitem(CONTEXT_MODULES, "bert", "attention.no_such_projection")
    with pytest.raises(ModelError, match=r"No module named \*\.attention\.no_such_projection"):
        ModelRunner("tiny", path)
    monkeypatch.setitem(CONTEXT_MODULES, "bert", "attention.output.dense")
    runner = ModelRunner("tiny", path)
    assert runner.context_dim == runner.hidden_size == 32
    assert runner.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
