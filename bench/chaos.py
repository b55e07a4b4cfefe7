"""Chaos benchmark: faults injected while jobs run, and what was lost.

Starts its own private Redis and Postgres (a cluster in a temporary folder, loopback only, run as an
unprivileged user when started as root), an API (``deepfake api``, auth off on loopback), a worker
(``deepfake worker --concurrency 2``), a beat and a webhook receiver. For each fault in turn it submits jobs
(each with a callback_url), injects the fault mid-way, and waits (bounded) for every accepted job to end:

    child_kill    SIGKILL of each worker child        worker_kill   SIGKILL of the whole worker, a new one started
    redis_loss    Redis SIGKILLed, restarted empty    pg_restart    Postgres stopped, started again
    pg_freeze     Postgres SIGSTOPped, then SIGCONT

One row per fault: submitted (202), terminal, lost (not terminal by the deadline), doubled (a job announced
by two different webhook deliveries), max seconds from the end of the fault to the last job's end, and 5xx
answers other than 503, 503 answers, and the slowest answer to a submission. The last line:
``chaos: <N> submitted, <N> terminal, <L> lost, <D> doubled``.

    python -m bench.chaos --quick      # ~40 jobs per fault, shorter outages: under ten minutes
    python -m bench.chaos              # 100 jobs per fault, a 30 s freeze
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psutil

# Recovery timings short enough to see within a run (the defaults are 60/60/15 s; see README).
RECOVERY_ENV = {"DEEPFAKE_HEARTBEAT_INTERVAL_S": "2", "DEEPFAKE_HEARTBEAT_TIMEOUT_S": "10",
                "DEEPFAKE_RESEND_GRACE_S": "10", "DEEPFAKE_RECOVER_INTERVAL_S": "3"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def as_user(argv: list[str]) -> list[str]:
    """Postgres refuses to run as root: drop to nobody when needed."""
    return ["runuser", "-u", "nobody", "--", *argv] if os.geteuid() == 0 else argv


class Services:
    """A private Redis and Postgres under ``root``."""

    def __init__(self, root: Path):
        self.root, self.redis_port, self.pg_port = root, free_port(), free_port()
        self.pg_dir = root / "pg"
        self.redis: subprocess.Popen | None = None

    def start(self) -> None:
        self.start_redis()
        self.pg_dir.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.root, "nobody")
            shutil.chown(self.pg_dir, "nobody")
        subprocess.run(as_user(["initdb", "-D", str(self.pg_dir), "-U", "postgres", "--auth=trust", "-N"]),
                       check=True, capture_output=True)
        self.start_pg()

    def start_redis(self) -> None:
        self.redis = subprocess.Popen(["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                       "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction"],
                                      stdout=subprocess.DEVNULL)
        wait_port(self.redis_port)

    def kill_redis(self) -> None:
        self.redis.kill()
        self.redis.wait()

    def start_pg(self) -> None:
        options = f"-p {self.pg_port} -k {self.pg_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(as_user(["pg_ctl", "-D", str(self.pg_dir), "-o", options, "-l", str(self.pg_dir / "log"),
                                "-w", "start"]), check=True, capture_output=True)

    def stop_pg(self) -> None:
        subprocess.run(as_user(["pg_ctl", "-D", str(self.pg_dir), "-m", "fast", "-w", "stop"]), capture_output=True)

    def pg_processes(self) -> list[psutil.Process]:
        postmaster = psutil.Process(int((self.pg_dir / "postmaster.pid").read_text().split()[0]))
        return [postmaster, *postmaster.children(recursive=True)]

    def stop(self) -> None:
        self.stop_pg()
        if self.redis and self.redis.poll() is None:
            self.kill_redis()

    @property
    def env(self) -> dict[str, str]:
        return {"DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{self.pg_port}/postgres",
                "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0"}


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


class Receiver(BaseHTTPRequestHandler):
    """Webhook receiver: the distinct webhook-ids each job was announced with."""

    seen: dict[str, set[str]] = collections.defaultdict(set)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        Receiver.seen[body["data"]["id"]].add(self.headers["webhook-id"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


class Stack:
    def __init__(self, services: Services, data_dir: Path):
        self.services, self.api_port = services, free_port()
        self.env = {**os.environ, **services.env, **RECOVERY_ENV, "DEEPFAKE_DATA_DIR": str(data_dir),
                    "DEEPFAKE_AUTH": "off", "WEBHOOK_ALLOW_PRIVATE": "true", "DEEPFAKE_ALLOW_PRIVATE_URLS": "true",
                    "TF_CPP_MIN_LOG_LEVEL": "2", "DEEPFAKE_RATE_LIMIT_PER_SECOND": "0"}
        self.procs: dict[str, subprocess.Popen] = {}

    def run(self, name: str, *args: str) -> None:
        with open(Path(self.env["DEEPFAKE_DATA_DIR"]) / f"{name}.log", "ab") as log:  # the child keeps its copy
            self.procs[name] = subprocess.Popen([sys.executable, "-m", "cli", *args], env=self.env,
                                                stdout=log, stderr=log)

    def start(self) -> None:
        subprocess.run([sys.executable, "-m", "cli", "migrate"], env=self.env, check=True, capture_output=True)
        self.run("api", "api", "--port", str(self.api_port))
        self.start_worker()
        self.run("beat", "beat")
        wait_port(self.api_port, 120)

    def start_worker(self) -> None:
        self.run("worker", "worker", "--concurrency", "2", "--loglevel", "WARNING")

    def worker_children(self) -> list[psutil.Process]:
        return psutil.Process(self.procs["worker"].pid).children()

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_worker_ready(stack: Stack, timeout: float = 180) -> None:
    """Until the worker has children that finished loading (a first job succeeds)."""
    job = submit(stack, photo(), errors=collections.Counter())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and status(stack, [job]).get(job) not in ("succeeded", "failed"):
        time.sleep(0.5)


_PHOTO: bytes | None = None


def photo() -> bytes:
    global _PHOTO
    if _PHOTO is None:
        from tests import media
        _PHOTO = media.jpeg_bytes(media.astronaut())
    return _PHOTO


def submit(stack: Stack, data: bytes, errors: collections.Counter) -> str | None:
    """One upload with a callback. dedup=false: every job goes through a worker (the same photo would
    otherwise be answered from the first job's result at submission, never touching the faults)."""
    hook = f"http://127.0.0.1:{stack.receiver_port}/hook"
    started = time.monotonic()
    try:
        resp = httpx.post(f"http://127.0.0.1:{stack.api_port}/v1/jobs", timeout=60,
                          files={"file": ("p.jpg", data, "image/jpeg")}, data={"callback_url": hook, "dedup": "false"})
    except httpx.HTTPError:
        errors["transport"] += 1
        return None
    finally:
        errors["slowest_ms"] = max(errors["slowest_ms"], round((time.monotonic() - started) * 1000))
    if resp.status_code >= 500:
        errors["503" if resp.status_code == 503 else "other_5xx"] += 1
    return resp.json()["id"] if resp.status_code == 202 else None


def status(stack: Stack, job_ids: list[str]) -> dict[str, str]:
    """Each job's status, read from the private Postgres (None while it cannot be read)."""
    import psycopg

    url = stack.services.env["DATABASE_URL"].replace("+psycopg", "")
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            rows = conn.execute("SELECT id, status FROM jobs WHERE id = ANY(%s)", (job_ids,)).fetchall()
    except psycopg.Error:
        return {}
    return dict(rows)


def last_finished(stack: Stack, job_ids: list[str]) -> float | None:
    """When the last of the jobs ended (epoch seconds), from the database."""
    import psycopg

    url = stack.services.env["DATABASE_URL"].replace("+psycopg", "")
    with psycopg.connect(url, connect_timeout=2) as conn:
        row = conn.execute("SELECT extract(epoch FROM max(finished_at)) FROM jobs WHERE id = ANY(%s)",
                           (job_ids,)).fetchone()
    return float(row[0]) if row and row[0] is not None else None


FAULTS = ("child_kill", "worker_kill", "redis_loss", "pg_restart", "pg_freeze")


def inject(fault: str, stack: Stack, quick: bool) -> None:
    """The fault; returns when it is over (the service back as an operator would bring it)."""
    services = stack.services
    if fault == "child_kill":
        for _ in range(2):
            for child in stack.worker_children():
                child.kill()
            time.sleep(2)
    elif fault == "worker_kill":
        for proc in [*stack.worker_children(), psutil.Process(stack.procs["worker"].pid)]:
            proc.kill()
        stack.procs["worker"].wait()
        stack.start_worker()
    elif fault == "redis_loss":
        services.kill_redis()
        time.sleep(3 if quick else 5)
        services.start_redis()
    elif fault == "pg_restart":
        services.stop_pg()
        time.sleep(5 if quick else 30)
        services.start_pg()
    elif fault == "pg_freeze":
        frozen = services.pg_processes()
        for proc in frozen:
            proc.suspend()
        time.sleep(10 if quick else 30)
        for proc in frozen:
            proc.resume()


def phase(fault: str, stack: Stack, jobs: int, quick: bool, deadline_s: float) -> dict:
    errors: collections.Counter = collections.Counter()
    accepted: list[str] = []
    fault_over: list[float] = []

    def faulty() -> None:
        time.sleep(2)
        inject(fault, stack, quick)
        fault_over.append(time.time())

    injector = threading.Thread(target=faulty)
    injector.start()
    for _ in range(jobs):  # steady submissions across the fault, ~10 a second
        job_id = submit(stack, photo(), errors)
        if job_id:
            accepted.append(job_id)
        time.sleep(0.1)
    injector.join()
    over, done = fault_over[0], {}
    while time.time() < over + deadline_s:
        done = {k: v for k, v in status(stack, accepted).items() if v in ("succeeded", "failed", "canceled")}
        if len(done) == len(accepted):
            break
        time.sleep(1)
    last_end = last_finished(stack, accepted) or over
    time.sleep(3)  # webhooks of the last jobs
    doubled = sum(len(Receiver.seen.get(job_id, ())) > 1 for job_id in accepted)
    return {"fault": fault, "submitted": len(accepted), "terminal": len(done), "lost": len(accepted) - len(done),
            "doubled": doubled, "max_s_to_terminal": round(max(0.0, last_end - over), 1),
            "non_503_5xx": errors["other_5xx"], "503": errors["503"], "refused": errors["transport"],
            "slowest_s": errors["slowest_ms"] / 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer jobs, shorter outages (under ten minutes)")
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--logs", type=Path, help="copy the API, worker and beat logs into this folder at the end")
    args = parser.parse_args()
    jobs, deadline = (40, 90) if args.quick else (100, 300)
    root = Path(tempfile.mkdtemp(prefix="deepfake-chaos-"))
    os.chmod(root, 0o755)
    services = Services(root / "services")
    (root / "services").mkdir()
    services.start()
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    stack = Stack(services, root / "data")
    (root / "data").mkdir()
    stack.receiver_port = receiver.server_address[1]
    rows = []
    try:
        stack.start()
        wait_worker_ready(stack)
        print(f"{'fault':<12} {'submitted':>9} {'terminal':>8} {'lost':>5} {'doubled':>7} {'max s':>6} "
              f"{'non-503 5xx':>11} {'503':>5} {'slowest s':>9}", flush=True)
        for fault in args.faults.split(","):
            row = phase(fault, stack, jobs, args.quick, deadline)
            rows.append(row)
            print(f"{fault:<12} {row['submitted']:>9} {row['terminal']:>8} {row['lost']:>5} {row['doubled']:>7} "
                  f"{row['max_s_to_terminal']:>6} {row['non_503_5xx']:>11} {row['503']:>5} {row['slowest_s']:>9}",
                  flush=True)
    finally:
        stack.stop()
        services.stop()
        receiver.shutdown()
        if args.logs:
            args.logs.mkdir(parents=True, exist_ok=True)
            for log in (root / "data").glob("*.log"):
                shutil.copy(log, args.logs / log.name)
        shutil.rmtree(root, ignore_errors=True)
    total = {key: sum(row[key] for row in rows) for key in ("submitted", "terminal", "lost", "doubled")}
    print(f"chaos: {total['submitted']} submitted, {total['terminal']} terminal, {total['lost']} lost, "
          f"{total['doubled']} doubled")
    return 1 if total["lost"] or total["doubled"] else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
