"""Per-run Postgres database and Redis DB for the test suite."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
CLAIM_KEY = "deepfake-test:claimed"


@dataclass
class ServiceState:
    data_dir: Path | None = None
    database_name: str | None = None
    database_url: str | None = None
    postgres_error: str = ""
    redis_url: str | None = None
    redis_error: str = ""


def _admin_connect():
    import psycopg

    return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)


def _create_database(state: ServiceState, run_id: str) -> None:
    try:
        with _admin_connect() as conn:
            name = f"deepfake_test_{run_id}"
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # any failure: the tests needing Postgres skip (or fail in CI)
        state.postgres_error = str(exc)
        return
    state.database_name = name
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    state.database_url = f"{base}/{name}"


def _claim_redis_db(state: ServiceState) -> None:
    """Take a Redis DB (1-15) no other test run holds, so parallel runs don't collide."""
    import redis

    try:
        for index in range(1, 16):
            client = redis.Redis.from_url(f"{REDIS_BASE}/{index}", socket_connect_timeout=3)
            if client.set(CLAIM_KEY, "1", nx=True, ex=6 * 3600):
                client.flushdb()  # a stale DB from a killed run
                client.set(CLAIM_KEY, "1", ex=6 * 3600)
                state.redis_url = f"{REDIS_BASE}/{index}"
                return
        state.redis_error = "every Redis DB 1-15 is claimed by another test run"
    except Exception as exc:
        state.redis_error = str(exc)


def flush_redis(state: ServiceState) -> None:
    """Empty this run's Redis DB between tests, keeping the claim: without it, a test run started meanwhile
    would take the same DB, and each run's worker would then consume (and drop) the other's jobs."""
    import redis

    client = redis.Redis.from_url(state.redis_url)
    client.flushdb()
    client.set(CLAIM_KEY, "1", ex=6 * 3600)


def start_services(state: ServiceState, run_id: str) -> None:
    _create_database(state, run_id)
    _claim_redis_db(state)


def stop_services(state: ServiceState) -> None:
    if state.database_name:
        # FORCE ends the connections our own pools still hold.
        with _admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{state.database_name}" WITH (FORCE)')
    if state.redis_url:
        import redis

        redis.Redis.from_url(state.redis_url).flushdb()  # also drops the claim
    if state.data_dir:
        shutil.rmtree(state.data_dir, ignore_errors=True)
