"""What the pages and the JSON API show, computed once: plain data in, dataclasses out.

Callbacks and API routes parse their inputs, call one function here, and
render the result; neither runs a model or writes SQL itself.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from exbert import config
from exbert.annotate import AnnotationError, Word, align, annotate
from exbert.model import PACKAGED_MODELS, Analysis, ModelError, load_model

# A person reads a sentence, not a book: longer input is cut here (and the
# model cuts again at its own maximum); both show a notice.
MAX_CHARS = 2_000


class UserError(ValueError):
    """Bad input from a person or an API client; the message says what to do."""


@dataclass(frozen=True)
class TokenView:
    index: int
    text: str
    is_special: bool
    masked: bool
    word: dict | None  # spaCy annotation of the word this token belongs to
    predictions: list[tuple[str, float]] | None


@dataclass(frozen=True)
class AttentionView:
    model: str
    kind: str  # mlm | causal | encoder
    layers: int
    heads: int
    sentence: str
    tokens: list[TokenView]
    attentions: np.ndarray  # [layer, head, query, key]
    truncated: bool
    masks: tuple[int, ...]
    mask_token: str | None

    @property
    def has_predictions(self) -> bool:
        return self.kind in ("mlm", "causal")

    @property
    def prediction_label(self) -> str:
        return {"mlm": "would predict here", "causal": "would predict next"}.get(
            self.kind, "no language-model head: this model makes no predictions"
        )

    @property
    def can_mask(self) -> bool:
        return self.mask_token is not None


def available_models(stored: Sequence[str] = ()) -> list[str]:
    """Models a person may pick: the configured default, installed model packages, stored models."""
    names = [config.default_model()]
    for name, module in PACKAGED_MODELS.items():
        if "/" not in name and importlib.util.find_spec(module) is not None:
            names.append(name)
    names.extend(stored)
    return list(dict.fromkeys(names))


def check_model(model: str | None, allowed: Sequence[str]) -> str:
    model = (model or "").strip() or config.default_model()
    if model not in allowed:
        raise UserError(f"Unknown model {model[:100]!r}. Available: {', '.join(allowed)}.")
    return model


def _word_dict(word, words) -> dict:
    head = words[word.head]
    return {
        "text": word.text,
        "lemma": word.lemma,
        "pos": word.pos,
        "tag": word.tag,
        "dep": word.dep,
        "head": head.text,
        "head_index": word.head,
        "ent_type": word.ent_type,
        "ent_iob": word.ent_iob,
        "is_stop": word.is_stop,
    }


_view_lock = threading.Lock()


@functools.lru_cache(maxsize=64)
def _analysis(model: str, sentence: str, masks: tuple[int, ...]) -> tuple[Analysis, list[Word]]:
    """The model's analysis and spaCy's words of one input, computed once."""
    try:
        runner = load_model(model)
        cut = sentence[:MAX_CHARS]
        return runner.analyze(cut, masks=masks), annotate(cut)
    except (ModelError, AnnotationError) as err:
        raise UserError(str(err)) from err


def analysis(model: str, sentence: str, masks: Sequence[int] = ()) -> tuple[Analysis, list[Word]]:
    with _view_lock:
        return _analysis(model, sentence, tuple(sorted(set(masks))))


@functools.lru_cache(maxsize=64)
def _attention_view(model: str, sentence: str, masks: tuple[int, ...]) -> AttentionView:
    analysis, words = _analysis(model, sentence, masks)
    runner = load_model(model)
    cut = analysis.text
    links = align(
        [(t.start, t.end) for t in analysis.tokens], [t.is_special for t in analysis.tokens], words
    )
    tokens = [
        TokenView(
            index=i,
            text=t.text,
            is_special=t.is_special,
            masked=i in masks,
            word=None if link is None else _word_dict(words[link], words),
            predictions=None if analysis.predictions is None else analysis.predictions[i],
        )
        for i, (t, link) in enumerate(zip(analysis.tokens, links, strict=True))
    ]
    return AttentionView(
        model=model,
        kind=runner.kind,
        layers=runner.layers,
        heads=runner.heads,
        sentence=cut,
        tokens=tokens,
        attentions=analysis.attentions,
        truncated=analysis.truncated or len(sentence) > MAX_CHARS,
        masks=masks,
        mask_token=runner.mask_token,
    )


def attention_view(model: str, sentence: str | None, masks: Sequence[int] = ()) -> AttentionView:
    """The attention page's data for one sentence (cached: moving sliders costs no model run)."""
    if not isinstance(sentence, str) or not sentence.strip():
        raise UserError("Type a sentence to see its attention.")
    try:
        key = tuple(sorted({int(m) for m in masks}))
    except (TypeError, ValueError) as err:
        raise UserError("masks must be a list of token positions (integers).") from err
    with _view_lock:  # the page's callbacks ask at once; compute each view once
        return _attention_view(model, sentence, key)


def attention_json(view: AttentionView) -> dict:
    """The JSON twin of the attention page (POST /api/attention)."""
    return {
        "model": view.model,
        "kind": view.kind,
        "layers": view.layers,
        "heads": view.heads,
        "truncated": view.truncated,
        "masks": list(view.masks),
        "prediction_label": view.prediction_label,
        "tokens": [
            {
                "index": t.index,
                "text": t.text,
                "is_special": t.is_special,
                "masked": t.masked,
                "word": t.word,
            }
            for t in view.tokens
        ],
        "attentions": np.round(view.attentions.astype(np.float64), 5).tolist(),
        "predictions": None
        if not view.has_predictions
        else [
            [{"token": tok, "prob": round(p, 6)} for tok, p in (t.predictions or [])]
            for t in view.tokens
        ],
    }
