"""A database outage, for real: the service's connections go through a TCP gate to the test Postgres,
and the gate is shut (a stopped server: connections refused, open ones cut) and opened again."""

from __future__ import annotations

import logging
import queue
import threading
import time
import types
import uuid
from datetime import timedelta

import pytest
from sqlalchemy.engine import make_url

from tests import media
from tests.api_client import make_client, submit_bytes, wait_for_job
from tests.conftest import in_process_worker
from tests.faults import TcpGate


@pytest.fixture
def db_gate(clean_db, monkeypatch):
    """The service's database URL points at a gate in front of the test database; yields the gate."""
    from core import db

    real = make_url(clean_db.database_url)
    gate = TcpGate(real.port or 5432, real.host or "127.0.0.1")
    monkeypatch.setenv("DATABASE_URL", real.set(port=gate.port).render_as_string(hide_password=False))
    monkeypatch.setenv("DEEPFAKE_DB_CONNECT_TIMEOUT_S", "2")
    db.reset()
    yield gate
    gate.up()
    monkeypatch.setenv("DATABASE_URL", clean_db.database_url)
    db.reset()
    gate.close()


def _calls(job_id: str) -> list[tuple[str, str, dict]]:
    """One request of each route family that needs the database."""
    photo = {"file": ("photo.jpg", media.jpeg_bytes(media.astronaut()), "image/jpeg")}
    return [("POST", "/v1/jobs", {"files": photo}),
            ("POST", "/v1/jobs", {"json": {"url": "https://example.org/a.jpg"}}),
            ("GET", f"/v1/jobs/{job_id}", {}),
            ("DELETE", f"/v1/jobs/{job_id}", {}),
            ("GET", f"/v1/jobs/{job_id}/deliveries", {}),
            ("POST", "/v1/batches", {"json": {"items": [{"url": "https://example.org/a.jpg"}]}}),
            ("GET", f"/v1/batches/{uuid.uuid4()}", {}),
            ("GET", "/v1/webhooks/endpoints", {}),
            ("POST", "/v1/webhooks/endpoints", {"json": {"url": "https://example.org/hook"}})]


def test_every_route_answers_503_while_the_database_is_down_then_recovers(db_gate):
    with make_client() as client:
        job_id = submit_bytes(client, media.jpeg_bytes(media.astronaut())).json()["id"]
        db_gate.down()
        for method, path, kwargs in _calls(job_id):
            started = time.monotonic()
            resp = client.request(method, path, **kwargs)
            assert resp.status_code == 503, (method, path, resp.status_code, resp.text)
            assert resp.json()["error"]["code"] == "database_unavailable"
            assert resp.headers["Retry-After"] == "5"
            assert time.monotonic() - started < 5, (method, path, "took too long")
        db_gate.up()  # the same app, engine and pool: nothing restarted
        assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"


def test_a_database_that_never_answers_gets_503_within_the_connect_timeout(db_gate):
    from core import db

    with make_client() as client:
        db.engine().dispose()  # no pooled connection: each request must connect, and the server hangs
        db_gate.freeze()
        started = time.monotonic()
        resp = client.get(f"/v1/jobs/{uuid.uuid4()}")
        assert resp.status_code == 503 and resp.json()["error"]["code"] == "database_unavailable"
        assert time.monotonic() - started < 2 + 3  # DEEPFAKE_DB_CONNECT_TIMEOUT_S, and the pool's own time
        db_gate.up()


@pytest.fixture
def job_in_outage(db_gate, monkeypatch):
    """A job accepted while the database was up; then the database down and an in-process worker started
    on it, its task sent again every 0.2 s. Yields the client, the job's ID and each retry's number as it
    comes (``retries``); the test brings the database back with ``db_gate.up()``."""
    from celery.signals import task_retry

    from workers import retry

    retries: list[int] = []

    def on_retry(request=None, **_kwargs) -> None:
        retries.append(request.retries)

    monkeypatch.setattr(retry, "backoff", lambda _retries: 0.2)
    task_retry.connect(on_retry, weak=False)  # before the worker starts: no retry goes unseen
    try:
        with make_client() as client:
            job_id = submit_bytes(client, media.jpeg_bytes(media.astronaut())).json()["id"]
            db_gate.down()
            with in_process_worker():
                yield types.SimpleNamespace(client=client, job_id=job_id, retries=retries)
    finally:
        task_retry.disconnect(on_retry)


def _wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    return bool(condition())


def test_a_worker_retries_for_as_long_as_the_outage_lasts(job_in_outage, db_gate):
    """Past Celery's default of three retries (seen in bench.chaos: a 30 s freeze outlasted them)."""
    assert _wait_until(lambda: len(job_in_outage.retries) >= 6, 60), job_in_outage.retries
    db_gate.up()
    job = wait_for_job(job_in_outage.client, job_in_outage.job_id, timeout=60)
    assert job["status"] == "succeeded", job


def test_a_database_that_stops_answering_pooled_connections_gets_503_within_seconds(db_gate):
    """SIGSTOP, a paused VM: the pool's connections stay open and nothing answers on them. Each request
    pings its pooled connection (DEEPFAKE_DB_CONNECT_TIMEOUT_S, 2 s here), drops it, and fails to connect
    (2 s more): 503 in about 4 s, not a wait until the server moves again."""
    from core import db

    with make_client() as client:
        calls = [client.get(f"/v1/jobs/{uuid.uuid4()}") for _ in range(3)]  # the pool holds live connections
        assert [resp.status_code for resp in calls] == [404] * 3 and db.engine().pool.checkedin() > 0
        db_gate.freeze()
        answers: list = []
        for _ in range(2):
            caller = threading.Thread(target=lambda: answers.append(_timed(client.get, f"/v1/jobs/{uuid.uuid4()}")),
                                      daemon=True)
            caller.start()
            caller.join(15)
            assert not caller.is_alive(), "the request waits on a connection the server never answers"
        db_gate.up()
        assert client.get(f"/v1/jobs/{uuid.uuid4()}").status_code == 404, "and it recovers by itself"
    for resp, seconds in answers:
        assert resp.status_code == 503 and resp.json()["error"]["code"] == "database_unavailable", resp.text
        assert seconds < 2 + 2 + 1.5, seconds


def _timed(call, *args):
    started = time.monotonic()
    return call(*args), time.monotonic() - started


def test_a_worker_whose_start_hits_an_outage_retries_and_finishes_the_job(job_in_outage, db_gate):
    assert _wait_until(lambda: job_in_outage.retries, 30), "the task was not retried"
    db_gate.up()
    job = wait_for_job(job_in_outage.client, job_in_outage.job_id, timeout=60)
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 1, "the failed start is not an attempt"


def test_a_periodic_task_logs_one_line_per_tick_of_an_outage_and_works_again_after_it(db_gate, caplog):
    """The beat's tasks (here the recovery loop, on a worker as the beat would have it run) say "database
    unavailable" once per tick, with no traceback, and do their work at the first tick after the outage."""
    from celery.signals import task_postrun

    from workers.celery_app import PERIODIC_TASKS, RECOVER_JOBS, app

    assert {entry["task"] for entry in app.conf.beat_schedule.values()} <= set(PERIODIC_TASKS)
    ended: queue.Queue = queue.Queue()

    def on_postrun(task=None, state=None, retval=None, **_kwargs) -> None:
        if task.name == RECOVER_JOBS:
            ended.put((state, retval))

    task_postrun.connect(on_postrun, weak=False)
    try:
        db_gate.down()
        with in_process_worker(), caplog.at_level(logging.INFO):
            for _tick in range(2):
                app.send_task(RECOVER_JOBS)
                assert ended.get(timeout=30) == ("SUCCESS", None)
            db_gate.up()  # the same worker, engine and pool: nothing restarted
            app.send_task(RECOVER_JOBS)
            after = ended.get(timeout=30)
    finally:
        task_postrun.disconnect(on_postrun)
    lines = [record.getMessage() for record in caplog.records if "database unavailable" in record.getMessage()]
    assert len(lines) == 2, lines
    assert all(line.startswith(f"{RECOVER_JOBS}: database unavailable, will retry next tick: OperationalError: ")
               and "\n" not in line for line in lines), lines
    assert not [record for record in caplog.records if record.exc_info], "a traceback was logged"
    assert after == ("SUCCESS", {"given_back": 0, "worker_lost": 0, "segments_resent": 0, "resent": 0})


def test_a_reused_upload_whose_webhook_cannot_be_queued_is_accepted_and_announced_later(webhook_settings,
                                                                                           monkeypatch):
    """Seen in bench.chaos during a Redis kill: the webhook publish of a result reused at submission raised,
    and the finished job was answered 500. Its delivery is an outbox row the dispatcher sends later."""
    from kombu.exceptions import OperationalError

    from core import webhooks
    from core.clock import now
    from core.db import session_scope
    from core.tables import WebhookDelivery
    from workers import webhooks as webhook_tasks

    photo = media.jpeg_bytes(media.astronaut())
    hook = {"callback_url": "http://127.0.0.1:9/hook"}
    with make_client() as client:
        with in_process_worker():
            first = submit_bytes(client, photo).json()["id"]
            assert wait_for_job(client, first)["status"] == "succeeded"

        def broker_gone(*_args, **_kwargs):
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

        with monkeypatch.context() as patched:
            patched.setattr(webhook_tasks.app, "send_task", broker_gone)
            resp = client.post("/v1/jobs", files={"file": ("p.jpg", photo, "image/jpeg")}, data=hook)
    assert resp.status_code == 202, resp.text
    assert resp.json()["status"] == "succeeded" and resp.json()["result"]["reused"] is True
    with session_scope() as session:
        (delivery,) = session.query(WebhookDelivery).all()
    assert (delivery.status, delivery.attempts) == ("pending", 0), "left for the dispatcher"
    assert delivery.locked_until <= now() + timedelta(seconds=webhooks.FIRST_SEND_GRACE_S), "and it looks soon"
