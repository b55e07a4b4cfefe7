"""Bring up a throw-away service stack for a benchmark: its own Postgres database and Redis DB.

Uses the Redis and Postgres on 127.0.0.1 (as the tests do); nothing is left behind.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from tests.services import ServiceState, start_services, stop_services


@contextmanager
def stack():
    state = ServiceState(data_dir=Path(tempfile.mkdtemp(prefix="deepfake-bench-")))
    start_services(state, "bench_" + uuid.uuid4().hex[:8])
    if not (state.database_url and state.redis_url):
        sys.exit(f"benchmarks need Postgres and Redis on 127.0.0.1: {state.postgres_error} {state.redis_error}")
    # The rate limit is checked on every request as in a deployment, but set too high to refuse any.
    os.environ.update(DATABASE_URL=state.database_url, REDIS_URL=state.redis_url,
                      DEEPFAKE_DATA_DIR=str(state.data_dir), TF_CPP_MIN_LOG_LEVEL="2",
                      DEEPFAKE_RATE_LIMIT_PER_SECOND="1000000", DEEPFAKE_RATE_LIMIT_BURST="1000000")
    from core import keys
    from core.db import session_scope
    from core.migrate import upgrade

    upgrade(state.database_url)
    with session_scope() as session:  # clients send it as real ones do: the key check is part of each request
        os.environ["DEEPFAKE_API_KEY"] = keys.create(session, name="bench", scopes=[keys.ADMIN]).secret
    try:
        yield state
    finally:
        stop_services(state)


def start_worker(cpus: str | None = None, concurrency: int = 1) -> subprocess.Popen:
    argv = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "--pool", "prefork",
            "--concurrency", str(concurrency), "--loglevel", "WARNING", "--without-gossip", "--without-mingle"]
    if cpus:
        argv = ["taskset", "-c", cpus, *argv]
    return subprocess.Popen(argv, env=os.environ.copy())


def start_api(port: int, cpus: str | None = None) -> subprocess.Popen:
    """The API in its own process (uvicorn, one process), as ``deepfake api`` runs it."""
    argv = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "warning"]
    if cpus:
        argv = ["taskset", "-c", cpus, *argv]
    process = subprocess.Popen(argv, env=os.environ.copy())
    wait_http(f"http://127.0.0.1:{port}/healthz")
    return process


def auth_headers() -> dict[str, str]:
    """The Authorization header with the stack's key (``DEEPFAKE_API_KEY``, set by ``stack``)."""
    return {"Authorization": f"Bearer {os.environ['DEEPFAKE_API_KEY']}"}


def wait_http(url: str, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def percentiles(values_ms: list[float]) -> str:
    ordered = sorted(values_ms)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):.1f} ms, p99 {p99:.1f} ms, n={len(ordered)}"
