"""``deepfake serve`` with no configuration: SQLite, a media folder and a file broker, no servers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests import media
from tests.receiver import Receiver

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_serve(data_dir, **extra_env: str) -> tuple[subprocess.Popen, str]:
    """``deepfake serve`` on a free port; what it prints goes to ``serve.log`` (stderr: ``serve.err``) beside
    ``data_dir``."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "S3_BUCKET")}
    env.update(DEEPFAKE_DATA_DIR=str(data_dir), **extra_env)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # The child keeps its own copies of the descriptors.
    with open(data_dir.parent / "serve.log", "w") as log, open(data_dir.parent / "serve.err", "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(port)], env=env,
                                stdout=log, stderr=err)
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


def _admin_key(data_dir) -> str:
    """The admin key ``serve`` wrote on its first start."""
    return (data_dir / "admin.key").read_text().strip()


@pytest.fixture
def embedded_server(tmp_path):
    proc, base = _start_serve(tmp_path / "data")
    yield base, tmp_path / "data"
    _stop(proc)


def test_serve_makes_an_admin_key_readable_by_this_user_only_and_says_where(embedded_server, tmp_path):
    base, data_dir = embedded_server
    key_file = data_dir / "admin.key"
    assert str(key_file.resolve()) in (tmp_path / "serve.log").read_text()
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert httpx.get(f"{base}/v1/jobs/x").status_code == 401
    resp = httpx.get(f"{base}/v1/jobs/x", headers={"Authorization": f"Bearer {_admin_key(data_dir)}"})
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"


def test_serve_refuses_auth_off_beyond_loopback(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "S3_BUCKET")}
    env.update(DEEPFAKE_DATA_DIR=str(tmp_path / "data"), DEEPFAKE_AUTH="off")
    done = subprocess.run([sys.executable, "-m", "cli", "serve", "--host", "0.0.0.0", "--port",
                           str(_free_port())], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "only on loopback" in done.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was set up


def test_serve_stops_its_worker_when_terminated(tmp_path):
    proc, _ = _start_serve(tmp_path / "data")
    import psutil

    assert any("celery" in " ".join(p.cmdline()) for p in psutil.Process(proc.pid).children(recursive=True))
    assert _stop(proc) == []
    assert proc.returncode == 0


def test_submit_and_poll_on_embedded_defaults(embedded_server):
    base, data_dir = embedded_server
    api = _Authorized(_admin_key(data_dir))
    resp = api.post(f"{base}/v1/jobs", files={"file": ("a.jpg", media.jpeg_bytes(media.astronaut()), "image/jpeg")})
    assert resp.status_code == 202
    job_url = base + resp.headers["location"]
    deadline = time.monotonic() + 120
    while (job := api.get(job_url).json())["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    assert job["status"] == "succeeded" and len(job["result"]["faces"]) == 1
    assert (data_dir / "deepfake.db").is_file()
    assert (data_dir / "media" / "uploads" / job["id"]).is_file()


def test_serve_sends_links_to_its_own_port_and_keeps_its_log_for_people(tmp_path):
    """Webhook links name the port serve was given; an idle minute and a start-up leave no TensorFlow
    chatter and no scheduler lines, while the job's own lines stay."""
    with Receiver() as receiver:
        proc, base = _start_serve(tmp_path / "data", WEBHOOK_ALLOW_PRIVATE="true")
        try:
            api = _Authorized(_admin_key(tmp_path / "data"))
            resp = api.post(f"{base}/v1/jobs", data={"callback_url": receiver.url},
                            files={"file": ("a.jpg", media.jpeg_bytes(media.astronaut()), "image/jpeg")})
            assert resp.status_code == 202, resp.text
            (event,) = receiver.wait_for(1, timeout=120)
            time.sleep(6)  # the beat's 5 s housekeeping runs at least once more
        finally:
            _stop(proc)
    assert json.loads(event.body)["data"]["url"] == f"{base}/v1/jobs/{resp.json()['id']}"
    out, err = (tmp_path / "serve.log").read_text(), (tmp_path / "serve.err").read_text()
    assert "serving on" in out and "celery@" not in out, "no Celery banner"
    for noise in ("cuInit", "oneDNN", "absl::InitializeLog", "Sending due task", "dispatch_webhooks"):
        assert noise not in err, noise
    assert "deepfake.process_job" in err, "the job's own lines are kept"


def test_batch_on_embedded_defaults(embedded_server, media_server):
    base, data_dir = embedded_server
    api = _Authorized(_admin_key(data_dir))
    media_base, folder = media_server
    (folder / "a.jpg").write_bytes(media.jpeg_bytes(media.astronaut()))
    items = [{"url": f"{media_base}/a.jpg", "ref": "a"}, {"url": f"{media_base}/gone.jpg", "ref": "gone"}]
    batch_id = api.post(f"{base}/v1/batches", json={"items": items}).json()["id"]
    deadline = time.monotonic() + 120
    while (batch := api.get(f"{base}/v1/batches/{batch_id}").json())["status"] != "completed":
        assert time.monotonic() < deadline, batch
        time.sleep(0.1)
    assert batch["counts"]["succeeded"] == 1 and batch["counts"]["failed"] == 1


def test_folder_backlog_on_embedded_defaults(embedded_server, tmp_path):
    """Parallel uploads into one batch on SQLite, which has no row locks: every one is counted."""
    from cli import backlog

    base, data_dir = embedded_server
    api = _Authorized(_admin_key(data_dir))
    folder = tmp_path / "inbox"
    folder.mkdir()
    for i in range(20):
        (folder / f"{i}.jpg").write_bytes(media.jpeg_bytes(media.astronaut(), quality=40 + i))
    batch_id = backlog.submit(str(folder), base, state_file=str(tmp_path / "state"), progress=False, parallel=4,
                              api_key=_admin_key(data_dir))
    deadline = time.monotonic() + 120
    while (batch := api.get(f"{base}/v1/batches/{batch_id}").json())["status"] != "completed":
        assert time.monotonic() < deadline, batch
        time.sleep(0.1)
    assert batch["total"] == 20 and batch["counts"]["succeeded"] == 20 and batch["progress"] == 1.0


class _Authorized:
    """``httpx.get`` / ``httpx.post`` with the admin key sent."""

    def __init__(self, key: str):
        self.headers = {"Authorization": f"Bearer {key}"}

    def get(self, url: str, **kwargs) -> httpx.Response:
        return httpx.get(url, headers=self.headers, **kwargs)

    def post(self, url: str, **kwargs) -> httpx.Response:
        return httpx.post(url, headers=self.headers, **kwargs)
