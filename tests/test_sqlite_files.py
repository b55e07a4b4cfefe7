"""The embedded SQLite database holds secrets (the callback signing secret, webhook endpoint secrets):
its files are readable by their owner only."""

from __future__ import annotations

import stat

from sqlalchemy import text

from core.db import make_engine


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_and_its_wal_files_are_made_owner_only(tmp_path):
    path = tmp_path / "data" / "deepfake.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE secrets (value TEXT)"))
            conn.execute(text("INSERT INTO secrets VALUES ('signing secret')"))
        with engine.connect() as conn:  # WAL: the -wal and -shm files exist while a connection is open
            conn.execute(text("SELECT value FROM secrets")).all()
            made = [p for p in path.parent.iterdir() if p.name.startswith("deepfake.db")]
            assert {p.name for p in made} >= {"deepfake.db", "deepfake.db-wal", "deepfake.db-shm"}
            assert {p.name: _mode(p) for p in made} == {p.name: 0o600 for p in made}
    finally:
        engine.dispose()


def test_an_existing_world_readable_database_is_narrowed(tmp_path):
    path = tmp_path / "deepfake.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    make_engine(f"sqlite:///{path}").dispose()
    assert _mode(path) == 0o600
