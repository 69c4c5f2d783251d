"""What several commands share: the settings, the store, numbers on the command line."""

from __future__ import annotations

import click
from sqlalchemy.orm import Session, sessionmaker

from exbert.config import Settings


def settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as err:
        raise click.ClickException(str(err)) from err


def open_store(upgrade: bool = True) -> sessionmaker[Session]:
    """Sessions on the configured database, migrated to head; a clear error when it is down."""
    from sqlalchemy.exc import OperationalError

    from db import migrate
    from db.engine import DatabaseError, ensure_database, get_engine, sessions
    from db.server import ServerError

    try:
        url = ensure_database(settings())
        if upgrade:
            migrate.upgrade(url)
        with get_engine(url).connect():
            pass
    except (ServerError, DatabaseError) as err:
        raise click.ClickException(str(err)) from err
    except OperationalError as err:
        raise click.ClickException(
            f"Cannot reach the database ({str(err.orig).strip().splitlines()[0]}). Start it, fix "
            "EXBERT_DATABASE_URL, or unset it to use the embedded server."
        ) from err
    return sessions(url)


def wait_or_kill(processes: list, seconds: float) -> None:
    """Give child processes `seconds` to finish what they hold (a worker its document),
    then kill what is left."""
    import subprocess

    for p in processes:
        try:
            p.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            p.kill()


def parse_numbers(value: str | None) -> list[int] | None:
    """'0,3,5', '2-4' or 'all' (None) as a list of numbers."""
    if not value or value == "all":
        return None
    numbers: list[int] = []
    try:
        for part in value.split(","):
            if "-" in part:
                lo, hi = part.split("-", 1)
                numbers.extend(range(int(lo), int(hi) + 1))
            else:
                numbers.append(int(part))
    except ValueError as err:
        raise click.BadParameter(f"{value!r}: use e.g. 0,3,5 or 2-4 or all") from err
    return numbers
