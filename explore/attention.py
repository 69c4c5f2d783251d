"""The attention view of one sentence: the model's run, spaCy's words, and the two aligned.

Cached per explorer: moving a slider or hovering a token costs no model run,
masking reruns the model but not spaCy, and the page can draw the graph before
spaCy has read the sentence (`annotate_later`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from exbert.annotate import AnnotationError, annotate, link_words, load_spacy
from exbert.model import Analysis, LayerVectors, ModelError
from exbert.shapes import Token, Word
from explore.cache import LRU
from explore.errors import UserError
from explore.models import ModelCatalog

# A person reads a sentence, not a book: longer input is cut here (and the
# model cuts again at its own maximum); both show a notice.
MAX_CHARS = 2_000

PREDICTION_LABELS = {"mlm": "would predict here", "causal": "would predict next"}


@dataclass(frozen=True)
class AttentionView:
    model: str
    kind: str  # mlm | causal | encoder
    layers: int
    heads: int
    sentence: str  # as the model read it (cut at MAX_CHARS)
    tokens: list[Token]  # with their words once spaCy has read the sentence
    attentions: np.ndarray  # [layer, head, query, key]
    predictions: list[list[tuple[str, float]]] | None  # per token, top-k
    truncated: bool
    masks: tuple[int, ...]
    mask_token: str | None
    annotated: bool = True  # False: spaCy's words are still being read (see annotate_later)

    @property
    def has_predictions(self) -> bool:
        return self.kind in PREDICTION_LABELS

    @property
    def prediction_label(self) -> str:
        return PREDICTION_LABELS.get(
            self.kind, "no language-model head: this model makes no predictions"
        )

    @property
    def can_mask(self) -> bool:
        return self.mask_token is not None

    def masked(self, position: int) -> bool:
        return position in self.masks

    def token_predictions(self, position: int) -> list[tuple[str, float]]:
        return [] if self.predictions is None else self.predictions[position]


def parse_masks(masks: object) -> tuple[int, ...]:
    if masks is None:
        return ()
    if not isinstance(masks, list | tuple) or not all(
        isinstance(m, int) and not isinstance(m, bool) for m in masks
    ):
        raise UserError('"masks" must be a list of token positions (integers).')
    return tuple(sorted(set(masks)))


def check_sentence(sentence: object) -> str:
    if sentence is None or (isinstance(sentence, str) and not sentence.strip()):
        raise UserError("Type a sentence to see its attention.")
    if not isinstance(sentence, str):
        raise UserError('"sentence" must be a string.')
    if "\x00" in sentence:
        raise UserError("The sentence contains a NUL character; remove it.")
    return sentence[:MAX_CHARS]


class AttentionViews:
    """Views of sentences, computed once: model runs, spaCy's words and views, each cached."""

    def __init__(self, models: ModelCatalog, spacy_model: str | None = None):
        self.models = models
        self.spacy_model = spacy_model
        self._runs: LRU[Analysis] = LRU(64)
        self._words: LRU[list[Word]] = LRU(128)
        self._views: LRU[AttentionView] = LRU(128)
        self._reading: set[str] = set()  # texts a background thread is reading
        self._reading_lock = threading.Lock()

    # -- the model's run ---------------------------------------------------------

    def run(self, model: object, sentence: object, masks: object = ()) -> Analysis:
        """The model's analysis of one input (allow-listed model, checked input), computed once."""
        runner = self.models.runner(model)
        text, key = check_sentence(sentence), parse_masks(masks)

        def compute() -> Analysis:
            try:
                return runner.analyze(text, masks=key)
            except ModelError as err:
                raise UserError(str(err)) from err

        return self._runs.get((runner.name, text, key), compute)

    def layer_vectors(self, model: object, sentence: object, layer: int, kind: str) -> LayerVectors:
        """One layer's vectors of a sentence's tokens (a search's query): from the model's
        run when the sentence has been analysed, else from a pass that stops at that layer
        (not kept: the attention page's run is the whole one)."""
        runner = self.models.runner(model)
        text = check_sentence(sentence)
        done = self._runs.known([(runner.name, text, ())])
        if done:
            (analysis,) = done.values()
            values = (
                analysis.hidden_states[layer + 1] if kind == "hidden" else analysis.contexts[layer]
            )
            return LayerVectors(text, analysis.tokens, values, analysis.truncated)
        try:
            return runner.layer_vectors(text, layer, kind)
        except ModelError as err:
            raise UserError(str(err)) from err

    def ablated(
        self, model: object, sentence: object, masks: object, ablate: dict[int, list[int]]
    ) -> list[list[tuple[str, float]]]:
        """The model's predictions with some heads switched off ({layer: heads}), cached."""
        runner = self.models.runner(model)
        text, key = check_sentence(sentence), parse_masks(masks)
        switched = tuple(
            sorted((int(layer), tuple(sorted(heads))) for layer, heads in ablate.items())
        )

        def compute() -> Analysis:
            try:
                return runner.analyze(text, masks=key, ablate=dict(switched))
            except ModelError as err:
                raise UserError(str(err)) from err

        analysis = self._runs.get((runner.name, text, key, switched), compute)
        return analysis.predictions or []

    # -- spaCy's words -------------------------------------------------------------

    def words(self, text: str) -> list[Word]:
        def compute() -> list[Word]:
            try:
                return annotate(text, load_spacy(self.spacy_model))
            except AnnotationError as err:
                raise UserError(str(err)) from err

        try:
            return self._words.get(text, compute)
        finally:
            with self._reading_lock:
                self._reading.discard(text)

    def words_ready(self, text: str) -> bool:
        return text in self._words

    def claim_reading(self, text: str) -> bool:
        """True once for a text that is neither read nor being read: the caller reads it."""
        with self._reading_lock:
            if text in self._reading or self.words_ready(text):
                return False
            self._reading.add(text)
            return True

    def annotate_later(self, sentence: str) -> None:
        """Read the sentence with spaCy in the background, so the next render shows annotations.

        The page draws the graph first: spaCy costs about as much as the model's
        forward pass, and a person looks at the lines before hovering a word.
        """
        text = sentence[:MAX_CHARS]
        if self.claim_reading(text):  # one thread per sentence, however often the page renders
            threading.Thread(target=self._quietly_read, args=(text,), daemon=True).start()

    def _quietly_read(self, text: str) -> None:
        try:
            self.words(text)
        except UserError:
            pass  # shown when a render asks for the words themselves

    # -- the view --------------------------------------------------------------------

    def view(
        self, model: object, sentence: object, masks: object = (), words: bool = True
    ) -> AttentionView:
        """The attention page's data for one sentence.

        With `words=False` the view carries spaCy's annotations only if they are
        ready, and does not wait for them (the page's first paint).
        """
        runner = self.models.runner(model)
        text, key = check_sentence(sentence), parse_masks(masks)
        annotated = words or self.words_ready(text)

        def compute() -> AttentionView:
            analysis = self.run(runner.name, text, key)
            tokens = analysis.tokens
            if annotated:
                tokens = link_words(tokens, self.words(text), len(text))
            return AttentionView(
                model=runner.name,
                kind=runner.kind,
                layers=runner.layers,
                heads=runner.heads,
                sentence=analysis.text,
                tokens=tokens,
                attentions=analysis.attentions,
                predictions=analysis.predictions,
                truncated=analysis.truncated or len(sentence) > MAX_CHARS,
                masks=key,
                mask_token=runner.mask_token,
                annotated=annotated,
            )

        return self._views.get(
            (runner.name, text, key, annotated, len(sentence) > MAX_CHARS), compute
        )

    def clear(self) -> None:
        """Forget every computed view (a model directory that changed)."""
        for cache in (self._runs, self._words, self._views):
            cache.clear()


def word_position(view: AttentionView, word: str) -> int:
    """The position of the first token of the word `word` (case-insensitive) in the view."""
    for t in view.tokens:
        if t.word and t.word.text.lower() == word.lower():
            return t.position
    raise UserError(f"No word {word!r} in the sentence; give a token position instead.")


def selection(view: AttentionView, heads: Sequence[int] | None) -> list[int]:
    """The selected heads of the view's model (None: all)."""
    return list(range(view.heads)) if heads is None else [h for h in heads if 0 <= h < view.heads]
