"""SQL from the browser and the API: one read-only query, checked, run as exbert_reader.

The database protects the store (db/readonly.py: the role, the read-only
transaction, the timeout, the server-side cursor); this module checks what is
sent, finds how to connect as the role, and writes values a person can read
(vectors as a short preview, bytes as their length).
"""

from __future__ import annotations

import datetime
import decimal
import math
from dataclasses import dataclass

from db import readonly
from exbert.config import Settings
from explore.errors import QueryTimeout, StoreUnavailable, UserError

MAX_QUERY_CHARS = 100_000
READS = ("select", "with", "values", "table", "(")


class SQLError(UserError):
    """PostgreSQL refused the query; `position` (1-based) points at the trouble in it."""

    def __init__(self, message: str, position: int | None = None):
        super().__init__(message)
        self.position = position


@dataclass(frozen=True)
class SQLResult:
    columns: list[str]
    rows: list[list]
    truncated: bool
    seconds: float
    max_rows: int

    def to_json(self) -> dict:
        return {
            "columns": self.columns,
            "rows": self.rows,
            "truncated": self.truncated,
            "seconds": round(self.seconds, 4),
        }


def check_query(query: object) -> str:
    if not isinstance(query, str) or not query.strip():
        raise UserError('Send a query: {"sql": "SELECT ..."}.')
    if "\x00" in query:
        raise UserError("The query contains a NUL character; remove it.")
    if len(query) > MAX_QUERY_CHARS:
        raise UserError(f"The query is longer than {MAX_QUERY_CHARS:,} characters.")
    return query.strip().rstrip(";").rstrip()


def readable(value: object) -> object:
    """A value as JSON and a person can take it: vectors previewed, bytes counted."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_finite() else str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<bytea {len(value):,} bytes>"
    if hasattr(value, "to_list") and type(value).__name__ in (
        "Vector",
        "HalfVector",
        "SparseVector",
    ):
        values = value.to_list()
        head = ", ".join(f"{v:.3f}" for v in values[:4])
        return f"[{head}, … {len(values)} values]" if len(values) > 4 else f"[{head}]"
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): readable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [readable(v) for v in value]
    return str(value)


def reader_url(settings: Settings, store_url: str) -> str:
    return settings.sql_url or readonly.reader_url(store_url)


def run(settings: Settings, store_url: str, query: object) -> SQLResult:
    """Run one read-only query as exbert_reader, bounded by the SQL settings."""
    if not settings.sql_enabled:
        raise UserError("SQL is turned off on this server (EXBERT_SQL=off).")
    text = check_query(query)
    try:
        result = readonly.run(
            reader_url(settings, store_url), text, settings.sql_timeout, settings.sql_max_rows
        )
    except readonly.SQLTimeout as err:
        raise QueryTimeout(
            f"The query ran past {settings.sql_timeout:g} s (EXBERT_SQL_TIMEOUT) and was "
            "cancelled; narrow it down (a WHERE, a LIMIT)."
        ) from err
    except readonly.ReaderUnavailable as err:
        raise StoreUnavailable(
            f"The SQL page cannot connect as the read-only role {readonly.READER} ({err}). "
            "With an external database, give the role a password and set EXBERT_SQL_URL "
            "(docs/sql.md)."
        ) from err
    except readonly.SQLFailure as err:
        message = err.message
        if err.code == "42601" and not text.lower().startswith(READS):
            message = (
                "Only a query that reads runs here (SELECT, WITH, VALUES or TABLE), one at a "
                f"time. PostgreSQL says: {err.message}"
            )
        elif err.code == "42501":
            message = f"{err.message}: the SQL page may only read the store's tables."
        elif err.code == "53400":
            message = (
                f"{err.message}: the query needs more memory or temporary space than the SQL "
                "page allows; narrow it down (a WHERE, a LIMIT inside)."
            )
        raise SQLError(message, err.position) from err
    rows = [[readable(v) for v in row] for row in result.rows]
    return SQLResult(result.columns, rows, result.truncated, result.seconds, settings.sql_max_rows)
