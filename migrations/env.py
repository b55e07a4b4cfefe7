"""Alembic environment: the schema comes from ``core.tables``; the URL from settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from core.db import make_engine
from core.settings import get_settings
from core.tables import Base

config = context.config
MIGRATION_LOCK = 0x6465_6570  # any constant shared by every process that migrates
target_metadata = Base.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().effective_database_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_url())
    with engine.connect() as connection:
        # Batch mode lets ALTER-style migrations run on SQLite (the embedded default).
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Several API replicas may start at once: one migrates, the others wait, then find nothing to do.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
