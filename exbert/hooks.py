"""Hooks on a loaded transformer: what exbert reads and changes inside a forward pass.

Each layer's heads' contexts are captured with a forward pre-hook on the layer's
attention output projection (found by the per-family table below), so no model code
is copied; the same hook switches heads off, and a hook on each layer's block ends a
pass once the layer asked for is done. `ModelRunner` (exbert/model.py) runs every
pass inside `LayerHooks.forward`, which sets what this pass does and clears it after.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from exbert.model_files import ModelError

# model_type -> name suffix of the module whose *input* is the concatenation of
# the heads' attention outputs (the attention output projection).
CONTEXT_MODULES: dict[str, str] = {
    "bert": "attention.output.dense",
    "roberta": "attention.output.dense",
    "xlm-roberta": "attention.output.dense",
    "camembert": "attention.output.dense",
    "electra": "attention.output.dense",
    "distilbert": "attention.out_lin",
    "albert": "attention.dense",
    "gpt2": "attn.c_proj",
    "llama": "self_attn.o_proj",
    "mistral": "self_attn.o_proj",
    "qwen2": "self_attn.o_proj",
    "qwen3": "self_attn.o_proj",
    "gemma": "self_attn.o_proj",
    "smollm3": "self_attn.o_proj",
}


class Reached(Exception):  # noqa: N818 - not an error: the layer asked for is done
    """Raised from a hook to end a forward pass at the layer asked for."""

    def __init__(self, value: torch.Tensor):
        super().__init__()
        self.value = value


class LayerHooks:
    """The hooks of one model. Not thread-safe: the runner holds its lock around a pass."""

    def __init__(self, model: torch.nn.Module, name: str, layers: int, heads: int):
        suffix = CONTEXT_MODULES.get(model.config.model_type)
        if suffix is None:
            raise ModelError(
                f"Model type {model.config.model_type!r} is not in exbert's table of attention "
                f"output modules (exbert/hooks.py CONTEXT_MODULES); supported: "
                f"{sorted(CONTEXT_MODULES)}."
            )
        modules = [m for n, m in model.named_modules() if n == suffix or n.endswith("." + suffix)]
        if not modules:
            raise ModelError(f"No module named *.{suffix} in {name!r}.")
        self.layers, self.heads = layers, heads
        self.captured: list[torch.Tensor] = []
        self._ablate: dict[int, tuple[int, ...]] = {}  # layer -> heads zeroed in this pass
        self._stop_at: tuple[str, int] | None = None  # (kind, layer) where this pass ends
        for module in modules:
            module.register_forward_pre_hook(self._capture)
        # whether a "hidden" pass can end after any layer's block (ALBERT's shared layer: no)
        self.stops_after_blocks = self._hook_blocks(model, modules)
        # Shared layers (ALBERT) run one module several times; order of calls is layer order.
        self.context_dim = int(
            getattr(modules[0], "in_features", 0)
            or getattr(modules[0], "nx", 0)
            or model.config.hidden_size
        )

    @contextmanager
    def forward(
        self,
        ablate: dict[int, tuple[int, ...]] | None = None,
        stop_at: tuple[str, int] | None = None,
    ) -> Iterator[list[torch.Tensor]]:
        """One pass: `ablate` switches heads off ({layer: heads}), `stop_at` ("hidden" or
        "context", layer) ends it with `Reached`; yields the contexts as they are captured.
        Everything is reset after, even when the pass fails, so no later pass runs with
        heads switched off."""
        self.captured.clear()
        self._ablate, self._stop_at = ablate or {}, stop_at
        try:
            yield self.captured
        finally:
            self.captured.clear()
            self._ablate, self._stop_at = {}, None

    def _capture(self, _module: torch.nn.Module, args: tuple):  # noqa: ANN202
        # called once per layer, in layer order: the layer is how many came before
        context = args[0]
        heads = self._ablate.get(len(self.captured))
        if heads:  # switch these heads off: their slice of the projection's input is 0
            context = context.clone()
            context.view(*context.shape[:-1], self.heads, -1)[..., list(heads), :] = 0
        self.captured.append(context.detach())
        if self._stop_at == ("context", len(self.captured) - 1):
            raise Reached(context)
        return (context, *args[1:]) if heads else None

    def _hook_blocks(self, model: torch.nn.Module, context_modules: list[torch.nn.Module]) -> bool:
        """A forward hook on each layer's block (the stack whose i-th block holds the i-th
        attention output module); False where no such stack exists (layers that share one
        module, as ALBERT's)."""
        if len(context_modules) != self.layers:
            return False
        for module in model.modules():
            if not isinstance(module, torch.nn.ModuleList) or len(module) != self.layers:
                continue
            if not all(
                any(m is c for m in block.modules())
                for block, c in zip(module, context_modules, strict=True)
            ):
                continue
            for i, block in enumerate(module):
                block.register_forward_hook(functools.partial(self._block_done, i))
            return True
        return False

    def _block_done(self, layer: int, _module: torch.nn.Module, _args: tuple, output) -> None:  # noqa: ANN001
        if self._stop_at == ("hidden", layer):
            raise Reached(output[0] if isinstance(output, tuple) else output)
