"""Tiny models built offline in well under a second: a trained tokenizer and a
randomly initialised small config, saved as an ordinary model directory."""

from __future__ import annotations

from pathlib import Path

import torch

CORPUS = [
    "The cat sat on the mat.",
    "A dog barked at the mailman in New York.",
    "Attention heads learn syntax and semantics.",
    "She didn't know what the model would predict next.",
    "Ünïcödé wörds, emoji 😀 and punctuation!?",
    "Paris is the capital of France; Berlin is the capital of Germany.",
    "The quick brown fox jumps over the lazy dog.",
] * 3

SIZES = dict(hidden=32, layers=2, heads=4, positions=64)


def _wordpiece():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(
        CORPUS, trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials)
    )
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    tok.decoder = __import__("tokenizers").decoders.WordPiece()
    return tok, dict(
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def _bytelevel():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    return tok, dict(
        bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>"
    )


def _sentencepiece():
    from tokenizers import SentencePieceBPETokenizer, processors

    sp = SentencePieceBPETokenizer(unk_token="<unk>")
    sp.train_from_iterator(CORPUS, vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"])
    tok = sp._tokenizer
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    return tok, dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def _save_tokenizer(tok, specials: dict, path: Path):
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, model_max_length=SIZES["positions"], **specials
    )
    fast.save_pretrained(path)
    return fast


def build(kind: str, path: Path, heads: int | None = None) -> Path:
    """Build and save a tiny model: bert-mlm, bert-encoder, gpt2 or llama (`heads`: another
    number of heads, with 4 dimensions each)."""
    import transformers as tf

    torch.manual_seed(0)
    h, n_layers, pos = SIZES["hidden"], SIZES["layers"], SIZES["positions"]
    if heads is None:
        heads = SIZES["heads"]
    else:
        h = 4 * heads
    path.mkdir(parents=True, exist_ok=True)
    if kind.startswith("bert"):
        fast = _save_tokenizer(*_wordpiece(), path)
        cfg = tf.BertConfig(
            vocab_size=len(fast),
            hidden_size=h,
            num_hidden_layers=n_layers,
            num_attention_heads=heads,
            intermediate_size=2 * h,
            max_position_embeddings=pos,
        )
        model = tf.BertForMaskedLM(cfg) if kind == "bert-mlm" else tf.BertModel(cfg)
    elif kind == "gpt2":
        fast = _save_tokenizer(*_bytelevel(), path)
        cfg = tf.GPT2Config(
            vocab_size=len(fast),
            n_embd=h,
            n_layer=n_layers,
            n_head=heads,
            n_positions=pos,
            bos_token_id=fast.bos_token_id,
            eos_token_id=fast.eos_token_id,
        )
        model = tf.GPT2LMHeadModel(cfg)
    elif kind == "llama":
        fast = _save_tokenizer(*_sentencepiece(), path)
        cfg = tf.LlamaConfig(
            vocab_size=len(fast),
            hidden_size=h,
            intermediate_size=2 * h,
            num_hidden_layers=n_layers,
            num_attention_heads=heads,
            num_key_value_heads=2,
            max_position_embeddings=pos,
        )
        model = tf.LlamaForCausalLM(cfg)
    else:
        raise ValueError(kind)
    model.save_pretrained(path)
    return path
