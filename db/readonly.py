"""Ad hoc SQL, run as the read-only role (migration 0005): one statement, read only, bounded.

What keeps the store safe is the database: the role may only SELECT, every
transaction is READ ONLY, statements time out, and the query runs through a
server-side cursor (DECLARE ... CURSOR FOR), which accepts one query that reads,
sent over the extended protocol, which refuses a second statement. Rows are
fetched up to the cap, so a query of a billion rows costs what the cap costs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg.errors import QueryCanceled

READER = "exbert_reader"
CURSOR = "exbert_sql"
DECLARE = f'DECLARE "{CURSOR}" CURSOR FOR '  # how psycopg declares a server cursor


@dataclass(frozen=True)
class ReadOnlyResult:
    columns: list[str]
    rows: list[tuple]
    truncated: bool
    seconds: float


class SQLFailure(Exception):
    """PostgreSQL refused or failed the query; `position` (1-based) points into it."""

    def __init__(self, message: str, position: int | None = None, code: str | None = None):
        super().__init__(message)
        self.message, self.position, self.code = message, position, code


class ReaderUnavailable(Exception):
    """The read-only role cannot connect (absent, or needs a password)."""


class SQLTimeout(Exception):
    pass


def reader_url(url: str, user: str = READER) -> str:
    """The same server and database as `url`, as `user`, without a password."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, f"{quote(user)}@{host}", parts.path, parts.query, ""))


def run(url: str, query: str, timeout: float, max_rows: int) -> ReadOnlyResult:
    """Run `query` as whoever `url` logs in as, which must not be a superuser."""
    started = time.perf_counter()
    try:
        conn = psycopg.connect(
            url,
            connect_timeout=5,
            application_name="exbert-sql",
            options=f"-c statement_timeout={int(timeout * 1000)} -c default_transaction_read_only=on",
        )
    except psycopg.OperationalError as err:
        raise ReaderUnavailable(str(err).strip().splitlines()[-1]) from err
    with conn:
        try:
            from pgvector.psycopg import register_vector

            register_vector(conn)
        except (psycopg.Error, psycopg.ProgrammingError):
            conn.rollback()
        conn.execute("SET TRANSACTION READ ONLY")
        superuser = conn.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        if superuser is None or superuser[0]:
            raise ReaderUnavailable(
                "the SQL connection logs in as a superuser; give it the read-only role "
                f"{READER} (migration 0005)"
            )
        try:
            with conn.cursor(name=CURSOR) as cur:
                cur.execute(query)
                rows = cur.fetchmany(max_rows + 1)
                columns = [c.name for c in cur.description or ()]
        except QueryCanceled as err:
            raise SQLTimeout(f"the query ran past {timeout:g} s and was cancelled") from err
        except psycopg.Error as err:
            diag = err.diag
            position = int(diag.statement_position) if diag.statement_position else None
            if position is not None:
                position = max(1, position - len(DECLARE))
            message = diag.message_primary or str(err).strip().splitlines()[0]
            raise SQLFailure(message, position, diag.sqlstate) from err
        finally:
            conn.rollback()
    return ReadOnlyResult(
        columns=columns,
        rows=[tuple(r) for r in rows[:max_rows]],
        truncated=len(rows) > max_rows,
        seconds=time.perf_counter() - started,
    )
