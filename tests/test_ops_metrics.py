"""Operational metrics, scraped for real after real jobs ran: ``GET /metrics`` (state from Postgres and
Redis) and a prefork worker's own exporter (events counted in its children, multiprocess mode)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tests import media
from tests.api_client import make_client, submit_bytes, wait_for_job
from tests.conftest import in_process_worker


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a scrape: (name, labels) -> value."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_metrics_report_jobs_by_status_and_lane_from_the_database(clean_db):
    photo = media.jpeg_bytes(media.astronaut())
    with make_client(scopes=("admin",)) as client:
        with in_process_worker():
            done = [submit_bytes(client, photo).json()["id"], submit_bytes(client, media.truncated_jpeg()).json()["id"]]
            assert [wait_for_job(client, job_id)["status"] for job_id in done] == ["succeeded", "failed"]
        queued = submit_bytes(client, media.jpeg_bytes(media.astronaut(), quality=80))  # no worker now
        assert queued.status_code == 202
        resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    samples = _samples(resp.text)

    def jobs(status: str, lane: str = "interactive") -> float:
        return samples[("deepfake_jobs", frozenset({"status": status, "lane": lane}.items()))]

    assert (jobs("succeeded"), jobs("failed"), jobs("queued"), jobs("running")) == (1, 1, 1, 0)
    assert jobs("queued", "bulk") == 0, "every series is there, zeros included"
    assert samples[("deepfake_queue_depth", frozenset({"lane": "interactive"}.items()))] == 1


def test_metrics_need_an_admin_key(clean_db):
    with make_client(scopes=("jobs", "webhooks")) as client:
        assert client.get("/metrics").status_code == 403
        assert client.get("/metrics", headers={"Authorization": ""}).status_code == 401


def test_recovered_jobs_are_counted(clean_db, monkeypatch):
    from core import db
    from tests.test_recovery import _drop_message, _queue
    from workers.recovery import recover_jobs

    monkeypatch.setenv("DEEPFAKE_RESEND_GRACE_S", "0.2")
    db.reset()
    before = REGISTRY.get_sample_value("deepfake_jobs_recovered_total", {"action": "resent"}) or 0
    with make_client() as client:
        lost = submit_bytes(client, media.jpeg_bytes(media.astronaut())).json()["id"]
    _drop_message(_queue(clean_db), lost)
    time.sleep(0.3)
    assert recover_jobs()["resent"] == 1
    assert REGISTRY.get_sample_value("deepfake_jobs_recovered_total", {"action": "resent"}) == before + 1
    db.reset()


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def hook_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_a_prefork_worker_serves_what_its_children_counted(clean_db, tmp_path, hook_url, monkeypatch):
    """Two children, so that the figures are only right if the parent adds up what each child wrote."""
    port = _free_port()
    env = {**os.environ, "DEEPFAKE_WORKER_METRICS_PORT": str(port), "DEEPFAKE_WORK_DIR": str(tmp_path),
           "WEBHOOK_ALLOW_PRIVATE": "true", "DEEPFAKE_TF_INTRA_OP_THREADS": "1"}
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "true")
    from core import db

    db.reset()
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "--pool",
                               "prefork", "--concurrency", "2", "--loglevel", "WARNING", "--without-heartbeat",
                               "--without-gossip", "--without-mingle"], env=env)
    try:
        with make_client() as client:
            ids = [client.post("/v1/jobs", data={"dedup": "false", "callback_url": hook_url},
                               files={"file": ("p.jpg", media.jpeg_bytes(media.astronaut()), "image/jpeg")}
                               ).json()["id"] for _ in range(3)]
            ids.append(submit_bytes(client, media.truncated_jpeg()).json()["id"])
            ended = [wait_for_job(client, job_id, timeout=180)["status"] for job_id in ids]
        assert ended == ["succeeded"] * 3 + ["failed"]
        samples = _scrape_until(port, ("deepfake_webhook_attempts_total", frozenset({"result": "succeeded"}.items())),
                                3)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        db.reset()
    assert samples[("deepfake_job_duration_seconds_count",
                    frozenset({"lane": "interactive", "status": "succeeded"}.items()))] == 3
    assert samples[("deepfake_job_duration_seconds_count",
                    frozenset({"lane": "interactive", "status": "failed"}.items()))] == 1
    assert samples[("deepfake_job_failures_total", frozenset({"code": "truncated_media"}.items()))] == 1
    classify = frozenset({"stage": "classify"}.items())
    assert samples[("deepfake_stage_seconds_count", classify)] == 3
    assert 0 < samples[("deepfake_stage_seconds_sum", classify)] < 60
    assert list(tmp_path.joinpath("metrics").iterdir()), "the children's counts live in the worker's folder"


def _scrape_until(port: int, key: tuple, value: float, timeout: float = 30) -> dict:
    """The worker's metrics once ``key`` reaches ``value`` (webhooks are sent after the job ends)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = _samples(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
        if samples.get(key) == value or time.monotonic() > deadline:
            assert samples.get(key) == value, samples.get(key)
            return samples
        time.sleep(0.2)
