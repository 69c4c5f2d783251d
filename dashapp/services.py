"""What the pages and the JSON API show, computed once: plain data in, dataclasses out.

Callbacks and API routes parse their inputs, call one function here, and
render the result; neither runs a model or writes SQL itself.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from collections import OrderedDict
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
    annotated: bool = True  # False: spaCy's words are still being read (see annotate_later)

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
def _model_run(model: str, cut: str, masks: tuple[int, ...]) -> Analysis:
    try:
        return load_model(model).analyze(cut, masks=masks)
    except ModelError as err:
        raise UserError(str(err)) from err


class _WordsCache:
    """spaCy's words per sentence text, shared by every model and mask (they depend on the text alone)."""

    def __init__(self, size: int = 128):
        self.size, self.lock, self.items = size, threading.Lock(), OrderedDict()
        self.reading: set[str] = set()  # texts a background thread is reading

    def ready(self, text: str) -> bool:
        with self.lock:
            return text in self.items

    def claim(self, text: str) -> bool:
        """True once for a text that is neither read nor being read: the caller reads it."""
        with self.lock:
            if text in self.items or text in self.reading:
                return False
            self.reading.add(text)
            return True

    def get(self, text: str) -> list[Word]:
        with self.lock:
            if text in self.items:
                self.items.move_to_end(text)
                return self.items[text]
        try:
            words = annotate(text)
        except AnnotationError as err:
            with self.lock:
                self.reading.discard(text)
            raise UserError(str(err)) from err
        with self.lock:
            self.items[text] = words
            self.reading.discard(text)
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return words

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.reading.clear()


_words = _WordsCache()


def _cut(sentence: str) -> str:
    return sentence[:MAX_CHARS]


def model_run(model: str, sentence: str, masks: Sequence[int] = ()) -> Analysis:
    """The model's analysis of one input, computed once."""
    with _view_lock:
        return _model_run(model, _cut(sentence), tuple(sorted(set(masks))))


def annotate_later(sentence: str) -> None:
    """Read the sentence with spaCy in the background, so the next render shows annotations.

    The page draws the graph first: spaCy costs about as much as the model's
    forward pass, and a person looks at the lines before hovering a word.
    """
    if _words.claim(_cut(sentence)):  # one thread per sentence, however often the page renders
        threading.Thread(target=_quietly_annotate, args=(_cut(sentence),), daemon=True).start()


def _quietly_annotate(text: str) -> None:
    try:
        _words.get(text)
    except UserError:
        pass  # shown when a render asks for the words themselves


@functools.lru_cache(maxsize=128)
def _attention_view(
    model: str, sentence: str, masks: tuple[int, ...], annotated: bool
) -> AttentionView:
    runner = load_model(model)
    analysis = _model_run(model, _cut(sentence), masks)
    words = _words.get(_cut(sentence)) if annotated else None
    links = (
        align(
            [(t.start, t.end) for t in analysis.tokens],
            [t.is_special for t in analysis.tokens],
            words,
        )
        if words is not None
        else [None] * len(analysis.tokens)
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
        sentence=analysis.text,
        tokens=tokens,
        attentions=analysis.attentions,
        truncated=analysis.truncated or len(sentence) > MAX_CHARS,
        masks=masks,
        mask_token=runner.mask_token,
        annotated=annotated,
    )


def attention_view(
    model: str, sentence: str | None, masks: Sequence[int] = (), words: bool = True
) -> AttentionView:
    """The attention page's data for one sentence (cached: moving sliders costs no model run).

    With `words=False` the view carries spaCy's annotations only if they are
    ready, and does not wait for them (the page's first paint).
    """
    if not isinstance(sentence, str) or not sentence.strip():
        raise UserError("Type a sentence to see its attention.")
    try:
        key = tuple(sorted({int(m) for m in masks}))
    except (TypeError, ValueError) as err:
        raise UserError("masks must be a list of token positions (integers).") from err
    with _view_lock:  # the page's callbacks ask at once; compute each view once
        annotated = words or _words.ready(_cut(sentence))
        return _attention_view(model, sentence, key, annotated)


def clear_caches() -> None:
    """Forget every computed view (tests, and a model directory that changed)."""
    _model_run.cache_clear()
    _attention_view.cache_clear()
    _words.clear()


def attention_json(view: AttentionView) -> dict:
    """The JSON twin of the attention page (POST /api/attention); the attention
    matrices stay a numpy array, which the app's JSON provider (orjson) writes."""
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
        "attentions": np.round(view.attentions.astype(np.float64), 5),  # numpy: orjson writes it
        "predictions": None
        if not view.has_predictions
        else [
            [{"token": tok, "prob": round(p, 6)} for tok, p in (t.predictions or [])]
            for t in view.tokens
        ],
    }
