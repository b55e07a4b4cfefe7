"""Migrations are the schema: they match the models and go down and up again cleanly on Postgres."""

from __future__ import annotations

from alembic import command

from core.migrate import alembic_config, downgrade, upgrade


def test_models_match_migrations(migrated):
    command.check(alembic_config(migrated.database_url))  # raises when a model change has no migration


def test_downgrade_and_upgrade_round_trip(clean_db):
    downgrade(clean_db.database_url, "base")
    upgrade(clean_db.database_url, "head")
    command.check(alembic_config(clean_db.database_url))
