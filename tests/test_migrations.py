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


LIST_INDEXES = {"jobs": "ix_jobs_tenant_created_at_id", "batches": "ix_batches_tenant_created_at_id"}


def _list_indexes(url: str) -> dict[str, list[str] | None]:
    """Per listed table: the columns of its list-order index, None when it has none."""
    from sqlalchemy import create_engine, inspect

    engine = create_engine(url)
    try:
        inspector = inspect(engine)
        found = {table: {ix["name"]: ix["column_names"] for ix in inspector.get_indexes(table)}
                 for table in LIST_INDEXES}
    finally:
        engine.dispose()
    return {table: found[table].get(name) for table, name in LIST_INDEXES.items()}


def test_the_list_order_indexes_come_and_go_with_their_migration(clean_db):
    url = clean_db.database_url
    assert _list_indexes(url) == {"jobs": ["tenant", "created_at", "id"], "batches": ["tenant", "created_at", "id"]}
    downgrade(url, "0010")
    assert _list_indexes(url) == {"jobs": None, "batches": None}
    upgrade(url, "head")
    assert _list_indexes(url) == {"jobs": ["tenant", "created_at", "id"], "batches": ["tenant", "created_at", "id"]}
    command.check(alembic_config(url))


def test_the_list_order_indexes_migrate_on_sqlite_too(tmp_path):
    """``deepfake serve`` keeps its jobs in SQLite: the same migration runs there, both ways."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    upgrade(url, "head")
    assert _list_indexes(url) == {"jobs": ["tenant", "created_at", "id"], "batches": ["tenant", "created_at", "id"]}
    downgrade(url, "0010")
    assert _list_indexes(url) == {"jobs": None, "batches": None}
