"""A worker process killed with SIGKILL mid-job: the job is delivered again and finishes once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from core import jobs
from core.db import session_scope
from tests import media
from tests.api_client import make_client, submit_bytes, wait_for_job

pytestmark = pytest.mark.slow


def _start_worker(**env: str) -> subprocess.Popen:
    """A real ``celery worker`` process with one prefork child, as deployed."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "--pool", "prefork",
         "--concurrency", "1", "--loglevel", "WARNING", "--without-heartbeat", "--without-gossip",
         "--without-mingle"],
        env={**os.environ, "DEEPFAKE_TF_INTRA_OP_THREADS": "1", **env},
    )


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def prefork_worker(clean_db):
    proc = _start_worker()
    yield proc
    _stop(proc)


def _wait_running(job_id: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope() as s:
            if jobs.get_job(s, job_id).status == jobs.JobStatus.RUNNING:
                return
        time.sleep(0.005)
    raise AssertionError("the job never started")


def _big_photo() -> bytes:
    """A 6144 x 6144 photo: decoding it keeps the worker busy long enough to be killed mid-job."""
    return media.jpeg_bytes(np.tile(media.astronaut(), (12, 12, 1)), quality=95)


def test_sigkill_mid_job_still_finishes_once(prefork_worker):
    import psutil

    with make_client() as client:
        job_id = submit_bytes(client, _big_photo()).json()["id"]
        _wait_running(job_id)
        (child,) = psutil.Process(prefork_worker.pid).children()
        child.send_signal(signal.SIGKILL)
        job = wait_for_job(client, job_id, timeout=180)
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2, "the kill did not land mid-job"
    assert job["result"]["media"]["width"] == 6144
    with session_scope() as s:
        assert jobs.get_job(s, job_id).result == job["result"]
    assert prefork_worker.poll() is None, "the worker itself should live on"


def test_a_whole_worker_lost_mid_job_hands_the_job_to_another(clean_db):
    """A worker machine gone (parent and child killed at once): nothing acknowledges the job, and Redis
    gives it to the next worker once the visibility timeout has passed."""
    import psutil

    env = {"DEEPFAKE_VISIBILITY_TIMEOUT_S": "5"}
    first = _start_worker(**env)
    with make_client() as client:
        job_id = submit_bytes(client, _big_photo()).json()["id"]
        _wait_running(job_id)
        for proc in [*psutil.Process(first.pid).children(), psutil.Process(first.pid)]:
            proc.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        with session_scope() as s:
            assert jobs.get_job(s, job_id).status == jobs.JobStatus.RUNNING, "the kill did not land mid-job"
        second = _start_worker(**env)
        try:
            job = wait_for_job(client, job_id, timeout=180)
        finally:
            _stop(second)
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2


def test_sigkill_mid_group_finishes_every_item_once(prefork_worker, media_server):
    """A bulk group whose worker child dies: redelivered, its items run one by one and all finish."""
    import psutil

    base, folder = media_server
    (folder / "big.jpg").write_bytes(_big_photo())
    for i in range(3):
        (folder / f"{i}.jpg").write_bytes(media.jpeg_bytes(media.astronaut(), quality=80 + i))
    items = [{"url": f"{base}/{name}", "ref": name} for name in ("0.jpg", "big.jpg", "1.jpg", "2.jpg")]
    with make_client() as client:
        batch_id = client.post("/v1/batches", json={"items": items, "priority": "bulk"}).json()["id"]
        deadline = time.monotonic() + 120
        while (batch := client.get(f"/v1/batches/{batch_id}").json())["counts"]["running"] < 4:
            assert time.monotonic() < deadline and batch["status"] != "completed", batch
            time.sleep(0.005)
        (child,) = psutil.Process(prefork_worker.pid).children()
        child.send_signal(signal.SIGKILL)
        while (batch := client.get(f"/v1/batches/{batch_id}").json())["status"] != "completed":
            assert time.monotonic() < deadline + 120, batch
            time.sleep(0.1)
        rows = [json.loads(line) for line in client.get(f"/v1/batches/{batch_id}/results").text.splitlines()]
    assert batch["counts"]["succeeded"] == 4, batch
    with session_scope() as s:
        attempts = {row["ref"]: jobs.get_job(s, row["job_id"]).attempts for row in rows}
    assert attempts == {"0.jpg": 2, "big.jpg": 2, "1.jpg": 2, "2.jpg": 2}, "the kill did not land mid-group"
    assert prefork_worker.poll() is None


def test_worker_killed_while_delivering_still_delivers(webhook_settings):
    from tests.receiver import Receiver, Reply

    with Receiver([Reply(200, delay_s=5), Reply(200)]) as receiver:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "--pool", "prefork",
             "--concurrency", "1", "--loglevel", "WARNING", "--without-heartbeat", "--without-gossip",
             "--without-mingle"], env={**os.environ})
        try:
            import psutil

            with make_client() as client:
                job_id = client.post("/v1/jobs", data={"callback_url": receiver.url},
                                     files={"file": ("a.jpg", media.jpeg_bytes(media.astronaut()), "image/jpeg")},
                                     ).json()["id"]
                receiver.wait_for(1, timeout=120)
                (child,) = psutil.Process(proc.pid).children()
                child.send_signal(signal.SIGKILL)
                first, second = receiver.wait_for(2, timeout=120)[:2]
                deadline = time.monotonic() + 30
                while (deliveries := client.get(f"/v1/jobs/{job_id}/deliveries").json())[0]["status"] != "succeeded":
                    assert time.monotonic() < deadline, deliveries
                    time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == deliveries[0]["id"]
    assert first.body == second.body
