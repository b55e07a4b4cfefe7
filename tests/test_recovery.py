"""The beat's recovery loop (``workers.recovery``) against real Redis and Postgres: lost messages are sent
again, jobs of dead workers are given back or fail as worker_lost, a second message never runs a job twice."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
import redis

from core import db, jobs
from core.db import session_scope
from core.processes import worker_id
from tests import media
from tests.api_client import make_client, submit_bytes, wait_for_job
from tests.conftest import in_process_worker
from tests.faults import dead_worker


@pytest.fixture
def quick_recovery(clean_db, monkeypatch):
    """Recovery timings in seconds instead of minutes."""
    monkeypatch.setenv("DEEPFAKE_RESEND_GRACE_S", "0.5")
    monkeypatch.setenv("DEEPFAKE_HEARTBEAT_TIMEOUT_S", "1")
    db.reset()
    yield clean_db
    db.reset()


def _queue(state) -> redis.Redis:
    return redis.Redis.from_url(state.redis_url)


def _drop_message(client: redis.Redis, job_id: str) -> None:
    """Delete the job's message from its queue, as a Redis that lost its data would."""
    from workers.recovery import message_job_ids

    for raw in client.lrange("interactive", 0, -1):
        if job_id in message_job_ids(raw):
            assert client.lrem("interactive", 1, raw) == 1
            return
    raise AssertionError("no message carried the job")


def test_a_job_whose_message_was_lost_is_sent_again_and_succeeds(quick_recovery):
    from workers.recovery import recover_jobs

    photo = media.jpeg_bytes(media.astronaut())
    with make_client() as client:
        lost, kept = (submit_bytes(client, photo).json()["id"] for _ in range(2))
        _drop_message(_queue(quick_recovery), lost)
        assert recover_jobs()["resent"] == 0, "within the grace period nothing is sent"
        time.sleep(0.6)
        assert recover_jobs()["resent"] == 1, "only the job no message carries"
        assert recover_jobs()["resent"] == 0, "sent again: not again until a grace period has passed"
        with in_process_worker():
            done = [wait_for_job(client, job_id) for job_id in (lost, kept)]
    assert [(job["status"], job["attempts"]) for job in done] == [("succeeded", 1)] * 2


def test_a_running_job_whose_worker_died_is_given_back_and_succeeds(quick_recovery):
    from workers.recovery import recover_jobs

    with make_client() as client:
        job_id = submit_bytes(client, media.jpeg_bytes(media.astronaut())).json()["id"]
        _drop_message(_queue(quick_recovery), job_id)  # the dead worker held it, unacknowledged
        with session_scope() as s:
            jobs.start(s, job_id, worker=dead_worker())
        assert recover_jobs()["given_back"] == 0, "its heartbeat is fresh"
        time.sleep(1.1)  # DEEPFAKE_HEARTBEAT_TIMEOUT_S
        assert recover_jobs()["given_back"] == 1
        assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"
        with in_process_worker():
            job = wait_for_job(client, job_id)
    assert (job["status"], job["attempts"]) == ("succeeded", 2)


def test_a_job_that_outlived_every_attempt_fails_as_worker_lost(quick_recovery):
    from workers.recovery import recover_jobs

    with make_client() as client:
        job_id = submit_bytes(client, media.jpeg_bytes(media.astronaut())).json()["id"]
        for _ in range(3):  # DEEPFAKE_MAX_ATTEMPTS
            with session_scope() as s:
                jobs.start(s, job_id, worker=dead_worker())
        time.sleep(1.1)
        assert recover_jobs()["worker_lost"] == 1
        job = client.get(f"/v1/jobs/{job_id}").json()
    assert (job["status"], job["error"]["code"], job["attempts"]) == ("failed", "worker_lost", 3)


def test_a_heartbeat_keeps_a_running_job(quick_recovery):
    from workers import heartbeat
    from workers.recovery import recover_jobs

    with make_client() as client:
        job_id = submit_bytes(client, media.jpeg_bytes(media.astronaut())).json()["id"]
    with session_scope() as s:
        jobs.start(s, job_id, worker=heartbeat.worker_id())
    with heartbeat.beating([job_id]):
        for _ in range(3):
            time.sleep(0.5)
            assert heartbeat.beat_once() == 1
            assert recover_jobs()["given_back"] == 0
    time.sleep(1.1)
    assert recover_jobs()["given_back"] == 1, "no beat for longer than the timeout"


def test_a_second_message_does_not_run_a_job_its_live_worker_runs(clean_db):
    from workers.tasks import run_job

    with make_client() as client:
        job_id = submit_bytes(client, media.jpeg_bytes(media.astronaut())).json()["id"]
    holder = subprocess.Popen(["sleep", "60"])
    try:
        with session_scope() as s:
            jobs.start(s, job_id, worker=worker_id(holder.pid))
        assert run_job(job_id) is None, "its worker lives: the duplicate is dropped"
    finally:
        holder.kill()
        holder.wait()
    with session_scope() as s:
        assert jobs.get_job(s, job_id).attempts == 1
    with in_process_worker():  # the holder is gone: this one takes the job over at once
        assert run_job(job_id) == "succeeded"
    with session_scope() as s:
        assert jobs.get_job(s, job_id).attempts == 2


def test_worker_start_removes_the_temporary_files_of_dead_processes(tmp_path, monkeypatch):
    import tempfile

    from core.settings import Settings
    from workers import workdir

    settings = Settings(work_dir=tmp_path)
    dead = tmp_path / dead_worker()
    (dead / "deepfake-x").mkdir(parents=True)
    (dead / "deepfake-x" / "media").write_bytes(b"a killed child's copy")
    other_host = tmp_path / "elsewhere:1"
    other_host.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", tempfile.tempdir)
    mine = workdir.use_own_folder(settings)
    assert not dead.exists()
    assert other_host.exists(), "another host's processes cannot be judged from here"
    assert mine == tmp_path / worker_id() and tempfile.gettempdir() == str(mine)
    assert os.path.isdir(mine)
