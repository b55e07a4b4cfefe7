"""Priority lanes, back-pressure and reuse of results for repeated media."""

from __future__ import annotations

import pytest

from core import db
from tests import media
from tests.api_client import make_client, submit_bytes, wait_for_job
from tests.conftest import in_process_worker


def _photo(quality: int) -> bytes:
    """The astronaut at a given JPEG quality: different bytes, same face."""
    return media.jpeg_bytes(media.astronaut(), quality=quality)


def test_repeated_media_reuses_the_stored_result(worker, media_server):
    base, folder = media_server
    data = _photo(90)
    (folder / "same.jpg").write_bytes(data)
    with make_client() as client:
        first = wait_for_job(client, submit_bytes(client, data).json()["id"])
        accepted = submit_bytes(client, data).json()
        assert accepted["status"] == "succeeded", "a repeated upload is answered at submission"
        again = wait_for_job(client, accepted["id"])
        by_url = wait_for_job(client, client.post("/v1/jobs", json={"url": f"{base}/same.jpg"}).json()["id"])
        fresh = wait_for_job(client, client.post("/v1/jobs", files={"file": ("a.jpg", data, "image/jpeg")},
                                                 data={"dedup": "false"}).json()["id"])
    assert first["result"]["reused"] is False and first["reused_from"] is None
    for job in (again, by_url):
        assert job["status"] == "succeeded"
        assert job["reused_from"] == first["id"]
        assert job["result"]["reused"] is True and job["result"]["reused_from"] == first["id"]
        assert job["result"]["faces"] == first["result"]["faces"]
    assert by_url["sha256"] == first["sha256"]
    assert fresh["result"]["reused"] is False and fresh["reused_from"] is None


def test_interactive_jobs_overtake_a_queued_backlog(clean_db):
    # Three interactive jobs: taking queues in turn (round robin) would slot bulk jobs between them.
    with make_client() as client:
        backlog = [client.post("/v1/jobs", files={"file": ("b.jpg", _photo(60 + i), "image/jpeg")},
                               data={"priority": "bulk"}).json()["id"] for i in range(8)]
        urgent = [submit_bytes(client, _photo(93 + i)).json()["id"] for i in range(3)]
        with in_process_worker():
            done = {job_id: wait_for_job(client, job_id) for job_id in [*urgent, *backlog]}
    assert all(job["status"] == "succeeded" for job in done.values())
    assert done[urgent[0]]["priority"] == "interactive" and done[backlog[0]]["priority"] == "bulk"
    last_urgent = max(done[job_id]["finished_at"] for job_id in urgent)
    later = [job_id for job_id in backlog if done[job_id]["finished_at"] > last_urgent]
    # One bulk job may already be in the worker's hands when the interactive ones arrive.
    assert len(later) >= len(backlog) - 1, "interactive jobs waited behind the backlog"


def test_interactive_job_overtakes_a_batch_queued_in_groups(clean_db, media_server):
    """A batch's items go to the bulk lane 16 per message; a job submitted after them still goes first."""
    import time
    from datetime import datetime

    from core.tables import Job
    from workers.batches import ingest_batch

    base, folder = media_server
    for i in range(48):
        (folder / f"{i}.jpg").write_bytes(_photo(40 + i))
    with make_client() as client:
        batch_id = client.post("/v1/batches", json={"items": [{"url": f"{base}/{i}.jpg"} for i in range(48)],
                                                    "priority": "bulk"}).json()["id"]
        assert ingest_batch(batch_id) == 48  # what a worker would do first: three groups on the bulk lane
        urgent = submit_bytes(client, _photo(99)).json()["id"]
        with in_process_worker():
            job = wait_for_job(client, urgent)
            deadline = time.monotonic() + 120
            while (batch := client.get(f"/v1/batches/{batch_id}").json())["status"] != "completed":
                assert time.monotonic() < deadline, batch
                time.sleep(0.1)
    assert job["status"] == "succeeded" and batch["counts"]["succeeded"] == 48
    with db.session_scope() as s:
        first_bulk_start = min(j.started_at for j in s.query(Job).filter_by(batch_id=batch_id))
    # Both were queued before the worker started: it takes the interactive lane first.
    assert datetime.fromisoformat(job["finished_at"]) <= first_bulk_start


@pytest.fixture
def tiny_queue(clean_db, monkeypatch):
    monkeypatch.setenv("DEEPFAKE_MAX_QUEUE_DEPTH", "3")
    db.reset()
    yield
    db.reset()


def test_429_past_the_queue_depth_limit(tiny_queue):
    with make_client() as client:
        accepted = [client.post("/v1/jobs", json={"url": f"https://example.org/{i}.jpg", "priority": "bulk"})
                    for i in range(3)]
        refused = client.post("/v1/jobs", json={"url": "https://example.org/x.jpg", "priority": "bulk"})
        upload = client.post("/v1/jobs", files={"file": ("a.jpg", _photo(90), "image/jpeg")},
                             data={"priority": "bulk"})
        interactive = submit_bytes(client, _photo(90))
    assert [r.status_code for r in accepted] == [202, 202, 202]
    for resp in (refused, upload):
        assert resp.status_code == 429
        assert resp.json()["error"]["code"] == "queue_full" and int(resp.headers["retry-after"]) > 0
    assert interactive.status_code == 202, "the other lane is not full"


def test_bad_priority_is_422(clean_db):
    with make_client() as client:
        assert client.post("/v1/jobs", json={"url": "https://example.org/a.jpg", "priority": "urgent"}
                           ).status_code == 422
        resp = client.post("/v1/jobs", files={"file": ("a.jpg", _photo(90), "image/jpeg")}, data={"priority": "x"})
        assert resp.status_code == 422


def test_each_job_is_queued_once_on_its_own_lane(clean_db):
    import redis

    from workers.celery_app import app

    client_redis = redis.Redis.from_url(clean_db.redis_url)
    with app.connection_for_write() as conn:  # declare every queue and binding, as a starting worker does
        for queue in app.amqp.queues.values():
            queue.bind(conn.default_channel).declare()
    with make_client() as client:
        submit_bytes(client, _photo(90))
        client.post("/v1/jobs", json={"url": "https://example.org/a.jpg", "priority": "bulk"})
    assert {q: client_redis.llen(q) for q in ("interactive", "bulk", "webhooks")} == {
        "interactive": 1, "bulk": 1, "webhooks": 0}


def test_queue_depth_counts_the_embedded_brokers_messages(tmp_path, monkeypatch):
    """The file-system broker of ``deepfake serve`` has no server to ask: its files are counted."""
    from core.settings import get_settings
    from workers.celery_app import make_celery, queue_depth

    for name in ("REDIS_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEEPFAKE_DATA_DIR", str(tmp_path))
    db.reset()
    try:
        embedded = make_celery(get_settings())
        for i in range(3):
            embedded.send_task("deepfake.process_job", args=[f"job-{i}"], queue="bulk")
        embedded.send_task("deepfake.process_job", args=["urgent"], queue="interactive")
        assert (queue_depth("bulk"), queue_depth("interactive")) == (3, 1)
        assert (tmp_path / "broker" / "control").is_dir(), "the exchange table stays under the data folder"
    finally:
        monkeypatch.undo()
        db.reset()


def test_503_when_the_queue_cannot_be_reached(clean_db, monkeypatch):
    import socket

    from core.db import session_scope
    from core.tables import Job

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
    db.reset()
    try:
        with make_client() as client:
            by_url = client.post("/v1/jobs", json={"url": "https://example.org/a.jpg"})
            upload = submit_bytes(client, _photo(90))
    finally:
        monkeypatch.undo()
        db.reset()
    for resp in (by_url, upload):
        assert resp.status_code == 503, resp.json()
        assert resp.json()["error"]["code"] == "broker_unavailable" and int(resp.headers["retry-after"]) > 0
    with session_scope() as s:
        assert s.query(Job).count() == 0, "nothing half-submitted is left behind"
