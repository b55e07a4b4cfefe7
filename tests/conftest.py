"""Test set-up: a fresh Postgres database and Redis DB per run, dropped afterwards.

Services are found at 127.0.0.1 (override with TEST_POSTGRES_URL / TEST_REDIS_URL).
A missing service or data folder skips the tests that need it on a laptop and
fails them in CI (``CI=true``). The environment is set in ``pytest_configure``,
before any project module reads its settings.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.services import ServiceState, flush_redis, start_services, stop_services

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() == "true"
STATE = ServiceState()


def require(condition: bool, why: str) -> None:
    """Skip when ``condition`` is false, except in CI, where it is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {why}")
    pytest.skip(why)


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    require(path.exists(), f"{path} is absent (the shared data folder sits beside the repository)")
    return path


def pytest_configure(config: pytest.Config) -> None:
    run_id = uuid.uuid4().hex[:10]
    STATE.data_dir = Path(tempfile.mkdtemp(prefix=f"deepfake-test-{run_id}-"))
    os.environ["DEEPFAKE_DATA_DIR"] = str(STATE.data_dir)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Tests run receivers and media servers on loopback.
    os.environ["DEEPFAKE_ALLOW_PRIVATE_URLS"] = "true"
    start_services(STATE, run_id)
    if STATE.database_url:
        os.environ["DATABASE_URL"] = STATE.database_url
    if STATE.redis_url:
        os.environ["REDIS_URL"] = STATE.redis_url


def pytest_unconfigure(config: pytest.Config) -> None:
    stop_services(STATE)


@pytest.fixture(scope="session")
def services() -> ServiceState:
    require(STATE.database_url is not None, f"Postgres is not reachable: {STATE.postgres_error}")
    require(STATE.redis_url is not None, f"Redis is not reachable: {STATE.redis_error}")
    return STATE


@pytest.fixture(scope="session")
def migrated(services: ServiceState) -> ServiceState:
    """The test database with every migration applied (never ``create_all``)."""
    from core.migrate import upgrade

    upgrade(services.database_url)
    return services


@pytest.fixture
def clean_db(migrated: ServiceState):
    """Empty tables and Redis DB around each test that uses them."""
    from core import db

    db.reset()
    _truncate(migrated)
    yield migrated
    _truncate(migrated)
    db.reset()


def _truncate(state: ServiceState) -> None:
    from sqlalchemy import text

    from core.db import engine

    with engine().begin() as conn:
        tables = ("jobs, batches, video_segments, webhook_endpoints, webhook_deliveries, webhook_attempts, "
                  "service_secrets, api_keys")
        conn.execute(text(f"TRUNCATE {tables}"))
    flush_redis(state)
    shutil.rmtree(state.data_dir / "media", ignore_errors=True)


@pytest.fixture(scope="session")
def classifier():
    """The model the service runs by default (shipped in the repository)."""
    from pipeline import load_classifier

    return load_classifier()


@pytest.fixture(scope="session")
def mesonet():
    from pipeline import load_mesonet

    return load_mesonet(shared_path("weights", "mesonet", "Meso4_DF.h5"))


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 HTTP endpoint on loopback (moto in server mode)."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint, monkeypatch):
    """A fresh bucket, with the service's settings pointing at it.

    Name it before ``worker`` in a test's arguments: fixtures end in reverse order, and the reset here must
    not close sessions under a worker thread that is still finishing a job."""
    import boto3

    from core import db

    name = f"media-{uuid.uuid4().hex[:8]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    monkeypatch.setenv("S3_BUCKET", name)
    monkeypatch.setenv("S3_ENDPOINT_URL", s3_endpoint)
    db.reset()
    yield client, name
    db.reset()


def in_process_worker():
    """A Celery worker in a thread of this process (solo pool), on the real Redis broker.

    Exceptions inside tasks are recorded by the job code as ``internal_error``;
    tests assert on job states, so a swallowed crash still fails them.
    """
    from celery.contrib.testing.worker import start_worker

    from workers import runtime
    from workers.celery_app import app

    runtime.load()
    return start_worker(app, pool="solo", concurrency=1, perform_ping_check=False, loglevel="WARNING",
                        shutdown_timeout=30)


@pytest.fixture
def worker(clean_db):
    with in_process_worker() as app:
        yield app


@pytest.fixture
def media_server(tmp_path):
    """A static HTTP server on loopback serving ``tmp_path``; yields (base_url, folder)."""
    import functools
    import http.server
    import threading

    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    server.shutdown()
    server.server_close()


import http.server  # noqa: E402 - the handler class below needs it at import


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def webhook_settings(clean_db, monkeypatch):
    """Loopback receivers allowed and a short retry schedule, as the issue's tests ask."""
    from core import db

    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("WEBHOOK_RETRY_SCHEDULE", "0,0.3,0.3")
    monkeypatch.setenv("DEEPFAKE_WEBHOOK_TIMEOUT_S", "5")
    db.reset()
    yield
    db.reset()


@pytest.fixture
def dispatcher(webhook_settings):
    """What beat does in production: queue due webhook retries, here every 0.1 s."""
    import threading

    from workers.webhooks import dispatch_webhooks

    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.1):
            dispatch_webhooks()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=5)


@pytest.fixture
def api_server(clean_db):
    """The API served over real HTTP on loopback from a thread of this process; yields its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    from api.app import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
