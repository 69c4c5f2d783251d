"""`exbert db`: migrations, the database's URL, the embedded server."""

from __future__ import annotations

import click

from exbert.cli.common import open_store, settings


@click.group()
def db() -> None:
    """The database: migrations, its URL, the embedded server."""


@db.command()
def upgrade() -> None:
    """Migrate the database to the newest schema."""
    open_store(upgrade=True)
    click.echo("database is at the newest schema")


@db.command()
def url() -> None:
    """Print a libpq URL for psql: psql "$(exbert db url)". Starts the embedded
    server when that is the default, and leaves it running."""
    from db.engine import DatabaseError, ensure_database
    from db.server import ServerError

    try:
        click.echo(ensure_database(settings(), keep_running=True))
    except (ServerError, DatabaseError) as err:
        raise click.ClickException(str(err)) from err


@db.command()
def stop() -> None:
    """Stop the embedded server."""
    from db import server

    click.echo("stopped" if server.stop(settings().home) else "the embedded server was not running")
