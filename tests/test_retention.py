"""Retention: media and results purged past DEEPFAKE_RETENTION_DAYS, retain_media=false, batch deletion."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core import db
from core.blobs import default_blob_store
from core.clock import now
from core.db import session_scope
from core.tables import Job
from tests import media
from tests.api_client import make_client
from tests.faults import dead_worker

RESULT = {"verdict": "real", "score": 0.1, "model": {"name": "m", "version": "1"}}


@pytest.fixture
def client(clean_db, monkeypatch):
    import api.routes_jobs

    monkeypatch.setattr(api.routes_jobs, "enqueue_job", lambda job_id, priority: None)  # finished by hand
    with make_client() as c:
        yield c


def _upload(client, quality: int = 80, **fields) -> str:
    data = media.jpeg_bytes(media.astronaut(), quality=quality)
    resp = client.post("/v1/jobs", files={"file": ("a.jpg", data, "image/jpeg")}, data=fields)
    assert resp.status_code == 202, resp.text
    return resp.json()["id"]


def _finish(job_id: str, ended_days_ago: float = 0) -> None:
    """What a worker does (start, then ``finish``), then the end moved back ``ended_days_ago``."""
    from core import jobs
    from workers.outcome import finish

    with session_scope() as s:
        jobs.start(s, job_id, worker=dead_worker())
    finish(job_id, result=RESULT)
    with session_scope() as s:
        s.get(Job, job_id).finished_at = now() - timedelta(days=ended_days_ago)


def test_a_job_past_the_retention_period_is_purged_media_first(client, monkeypatch):
    from workers.retention import purge_expired

    old, recent = _upload(client, 70), _upload(client, 71)
    _finish(old, ended_days_ago=8)
    _finish(recent, ended_days_ago=6)
    assert purge_expired() == 0  # no retention period set: kept
    monkeypatch.setenv("DEEPFAKE_RETENTION_DAYS", "7")
    db.reset()
    assert purge_expired() == 1 and purge_expired() == 0
    purged, kept = client.get(f"/v1/jobs/{old}").json(), client.get(f"/v1/jobs/{recent}").json()
    assert purged["status"] == "succeeded" and purged["purged_at"] and purged["result"] is None
    assert purged["sha256"] is None and purged["source"]["filename"] is None
    assert not default_blob_store().exists(f"uploads/{old}")
    assert kept["result"]["verdict"] == "real" and kept["purged_at"] is None
    assert default_blob_store().exists(f"uploads/{recent}")


def test_a_purged_result_is_never_reused(client, monkeypatch):
    from core import jobs
    from workers.retention import purge_expired

    old = _upload(client, 72)
    _finish(old, ended_days_ago=30)
    sha256 = client.get(f"/v1/jobs/{old}").json()["sha256"]
    with session_scope() as s:
        assert jobs.find_reusable_many(s, wanted={("default", sha256)}, key="m:1")  # reusable until purged
    monkeypatch.setenv("DEEPFAKE_RETENTION_DAYS", "7")
    db.reset()
    purge_expired()
    with session_scope() as s:
        assert jobs.find_reusable_many(s, wanted={("default", sha256)}, key="m:1") == {}
        assert jobs.find_reusable(s, sha256=sha256, key="m:1", exclude_id="", tenant="default") is None


def test_retain_media_false_deletes_the_upload_when_the_job_ends(client):
    gone, kept = _upload(client, 73, retain_media="false"), _upload(client, 74)
    assert default_blob_store().exists(f"uploads/{gone}")  # needed until the worker has read it
    _finish(gone)
    _finish(kept)
    assert not default_blob_store().exists(f"uploads/{gone}") and default_blob_store().exists(f"uploads/{kept}")
    body = client.get(f"/v1/jobs/{gone}").json()
    assert body["result"]["verdict"] == "real" and body["retain_media"] is False


def test_retain_media_is_a_json_option_too(client):
    resp = client.post("/v1/jobs", json={"url": "https://example.org/a.jpg", "retain_media": False})
    assert resp.status_code == 202 and resp.json()["retain_media"] is False


def test_deleting_a_batch_removes_its_items_and_their_media(client):
    batch_id = client.post("/v1/batches", json={"open": True}).json()["id"]
    loose = _upload(client, 75)  # outside the batch: must survive
    inside = [client.post(f"/v1/jobs?batch_id={batch_id}&ref=r{i}",
                          files={"file": ("a.jpg", media.jpeg_bytes(media.astronaut(), quality=50 + i))}).json()["id"]
              for i in range(3)]
    with make_client(tenant="globex") as other:
        assert other.delete(f"/v1/batches/{batch_id}").status_code == 404
    assert client.get(f"/v1/batches/{batch_id}").json()["total"] == 3
    assert client.delete(f"/v1/batches/{batch_id}").status_code == 204
    assert client.get(f"/v1/batches/{batch_id}").status_code == 404
    for job_id in inside:
        assert client.get(f"/v1/jobs/{job_id}").status_code == 404
        assert not default_blob_store().exists(f"uploads/{job_id}")
    assert client.get(f"/v1/jobs/{loose}").status_code == 200 and default_blob_store().exists(f"uploads/{loose}")


def test_the_beat_purges_only_when_a_retention_period_is_set():
    from core.settings import Settings
    from workers.celery_app import PURGE_EXPIRED, make_celery

    assert "purge-expired" not in make_celery(Settings()).conf.beat_schedule
    schedule = make_celery(Settings(retention_days=30, retention_interval_s=600)).conf.beat_schedule
    assert schedule["purge-expired"] == {"task": PURGE_EXPIRED, "schedule": 600}
