"""``deepfake serve`` with no configuration: SQLite, a media folder and a file broker, no servers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests import media

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_serve(data_dir) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "S3_BUCKET")}
    env["DEEPFAKE_DATA_DIR"] = str(data_dir)
    proc = subprocess.Popen([sys.executable, "-m", "core.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.3)
    return proc, base


def _stop(proc: subprocess.Popen) -> list:
    """SIGTERM, as a supervisor stops it; returns its processes still running 30 s later (killed then)."""
    import psutil

    family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    proc.terminate()
    proc.wait(timeout=60)
    _, alive = psutil.wait_procs(family, timeout=30)
    for leftover in alive:
        leftover.kill()
    return alive


@pytest.fixture
def embedded_server(tmp_path):
    proc, base = _start_serve(tmp_path / "data")
    yield base, tmp_path / "data"
    _stop(proc)


def test_serve_stops_its_worker_when_terminated(tmp_path):
    proc, _ = _start_serve(tmp_path / "data")
    import psutil

    assert any("celery" in " ".join(p.cmdline()) for p in psutil.Process(proc.pid).children(recursive=True))
    assert _stop(proc) == []
    assert proc.returncode == 0


def test_submit_and_poll_on_embedded_defaults(embedded_server):
    base, data_dir = embedded_server
    resp = httpx.post(f"{base}/v1/jobs", files={"file": ("a.jpg", media.jpeg_bytes(media.astronaut()), "image/jpeg")})
    assert resp.status_code == 202
    job_url = base + resp.headers["location"]
    deadline = time.monotonic() + 120
    while (job := httpx.get(job_url).json())["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    assert job["status"] == "succeeded" and len(job["result"]["faces"]) == 1
    assert (data_dir / "deepfake.db").is_file()
    assert (data_dir / "media" / "uploads" / job["id"]).is_file()


def test_batch_on_embedded_defaults(embedded_server, media_server):
    base, _ = embedded_server
    media_base, folder = media_server
    (folder / "a.jpg").write_bytes(media.jpeg_bytes(media.astronaut()))
    items = [{"url": f"{media_base}/a.jpg", "ref": "a"}, {"url": f"{media_base}/gone.jpg", "ref": "gone"}]
    batch_id = httpx.post(f"{base}/v1/batches", json={"items": items}).json()["id"]
    deadline = time.monotonic() + 120
    while (batch := httpx.get(f"{base}/v1/batches/{batch_id}").json())["status"] != "completed":
        assert time.monotonic() < deadline, batch
        time.sleep(0.1)
    assert batch["counts"]["succeeded"] == 1 and batch["counts"]["failed"] == 1


def test_folder_backlog_on_embedded_defaults(embedded_server, tmp_path):
    """Parallel uploads into one batch on SQLite, which has no row locks: every one is counted."""
    from core import backlog

    base, _ = embedded_server
    folder = tmp_path / "inbox"
    folder.mkdir()
    for i in range(20):
        (folder / f"{i}.jpg").write_bytes(media.jpeg_bytes(media.astronaut(), quality=40 + i))
    batch_id = backlog.submit(str(folder), base, state_file=str(tmp_path / "state"), progress=False, parallel=4)
    deadline = time.monotonic() + 120
    while (batch := httpx.get(f"{base}/v1/batches/{batch_id}").json())["status"] != "completed":
        assert time.monotonic() < deadline, batch
        time.sleep(0.1)
    assert batch["total"] == 20 and batch["counts"]["succeeded"] == 20 and batch["progress"] == 1.0
