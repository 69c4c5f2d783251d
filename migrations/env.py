"""Alembic environment: the URL comes from exbert's settings (or the caller's config)."""

from alembic import context

from db.engine import ensure_database, make_engine
from db.schema import Base
from exbert.config import Settings

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.attributes.get("url") or ensure_database(Settings.from_env())
    engine = make_engine(url, pooled=False)
    with engine.connect() as connection:
        # one transaction per migration: rows a migration rewrites are dead, not
        # "recently dead", when the next one builds an index over them
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
