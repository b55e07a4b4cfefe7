"""A backlog of small face images through the service, against the same images in-process.

    .venv/bin/python -m bench.backlog [--items 2000]

1. In-process: what ``deepfake scan`` does over the images on local disk: one process per core,
   one thread each, images grouped ``DEEPFAKE_BULK_GROUP_SIZE`` at a time as the workers group bulk items.
2. Service: the images in S3 (moto's S3 on loopback, connections kept open as S3 keeps them), one
   batch over the prefix, one worker (prefork, ``--concurrency`` children, by default one per CPU as
   Celery does), Redis and Postgres, all on this machine. Timed from ``POST /v1/batches`` to
   ``completed``; ingestion timed on its own. With ``--source folder`` the images are uploaded instead, as
   ``deepfake backlog submit FOLDER`` does (one file per request, 4 in flight, to an API process of
   its own, stored in the same S3), timed from the first upload to ``completed``.
   The images go in ``--rounds`` parts, each through 1 and then 2, so that both meet the same machine:
   its speed drifts by a quarter within minutes.
3. Dedup: the same prefix again, where every item reuses a stored result; the look-up alone;
   uploads of new images against uploads of the same images again (answered at submission).

With ``--worker-cores K`` the in-process scan and the worker run on the last K cores only and the
rest of the machine is left to the S3 stand-in, the API, Postgres and Redis, as on a worker machine
whose storage and database are elsewhere: the figure then compares what one worker core gets done.

Images: DFDC face crops from ../shared when present, else generated crops.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from bench._stack import auth_headers, stack, start_api, start_worker

SHARED_CROPS = Path(__file__).resolve().parents[2] / "shared/data/faces/dfdc/train"


def face_crops(n: int, folder: Path) -> list[Path]:
    """``n`` small face images: DFDC crops from ../shared when present, else generated."""
    if SHARED_CROPS.exists():
        return sorted(SHARED_CROPS.glob("*/*.jpg"))[:n]
    from tests import media

    paths = []
    for i in range(n):
        path = folder / f"{i}.jpg"
        path.write_bytes(media.jpeg_bytes(media.astronaut()[20:260, 130:330], quality=50 + i % 50))
        paths.append(path)
    return paths


class InProcess:
    """``deepfake scan`` as it runs a folder of this size (one process per core from 64 files on, images
    grouped as on the bulk lane), kept open between rounds. Its start-up (TensorFlow and the model in
    each process) is left out, as the worker's is."""

    def __init__(self, paths: list[Path]):
        import psutil

        from cli.scan import ScanPool, scan_processes
        from core.settings import get_settings

        processes = scan_processes(None, len(paths))
        self.pool = ScanPool(get_settings(), None, processes)
        for _row in self.pool.scan(paths[: processes * get_settings().bulk_group_size]):  # every process loaded
            pass
        self.children = psutil.Process().children(recursive=True)

    def run(self, paths: list[Path]) -> tuple[float, float]:
        """Seconds to scan ``paths``, and the CPU seconds the scanning processes used."""
        cpu, start = _cpu(self.children), time.perf_counter()
        for _row in self.pool.scan(paths):
            pass
        return time.perf_counter() - start, _cpu(self.children) - cpu

    def close(self) -> None:
        self.pool.close()


@contextmanager
def _on_cores(cores: set[int] | None):
    """Run this process (and the processes it starts meanwhile) on ``cores``; None: leave it as it is."""
    if cores is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _split_cores(worker_cores: int) -> tuple[set[int] | None, set[int] | None]:
    """(cores for the worker and the scan, cores for everything else); (None, None): all share all."""
    if not worker_cores:
        return None, None
    cores = sorted(os.sched_getaffinity(0))
    if worker_cores >= len(cores):
        raise SystemExit(f"--worker-cores must leave at least one of the {len(cores)} cores to the rest")
    return set(cores[-worker_cores:]), set(cores[:-worker_cores])


def _cpu(processes) -> float:
    """CPU seconds used so far by ``processes`` (psutil processes); one that has ended counts nothing."""
    import psutil

    total = 0.0
    for proc in processes:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _moto() -> str:
    """The S3 stand-in (moto's server application) on threads of this process, served by uvicorn.

    Not by moto's own werkzeug development server: that one answers every request with
    ``Connection: close``, so each pooled GET of a worker opened a TCP connection and the stand-in started
    a thread for it, costs no deployment on S3 pays. uvicorn keeps connections open, as S3 does."""
    import threading

    import uvicorn
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(DomainDispatcherApplication(create_backend_app), host="127.0.0.1",
                                           port=port, interface="wsgi", log_level="warning", access_log=False))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                      S3_ENDPOINT_URL=f"http://127.0.0.1:{port}", S3_BUCKET="bench-media")
    return f"http://127.0.0.1:{port}"


def _run_batch(client, prefix: str) -> tuple[str, float, float]:
    start = time.perf_counter()
    batch_id = client.post("/v1/batches", json={"items": [{"s3_prefix": prefix}]}).json()["id"]
    ingested = None
    while (batch := client.get(f"/v1/batches/{batch_id}").json())["status"] != "completed":
        if ingested is None and batch["status"] != "ingesting":
            ingested = time.perf_counter() - start
        time.sleep(0.25)  # each poll counts the items in Postgres: polling harder slows what it measures
    return batch_id, ingested or (time.perf_counter() - start), time.perf_counter() - start


def _run_folder(api_url: str, folder: Path, state: Path) -> tuple[str, float, float]:
    """``deepfake backlog submit FOLDER``, then wait for the batch: (ID, upload seconds, total seconds)."""
    import httpx

    from cli import backlog

    start = time.perf_counter()
    batch_id = backlog.submit(str(folder), api_url, state_file=str(state), progress=False)
    uploaded = time.perf_counter() - start
    with httpx.Client(base_url=api_url, headers=auth_headers()) as client:
        while client.get(f"/v1/batches/{batch_id}").json()["status"] != "completed":
            time.sleep(0.25)
    return batch_id, uploaded, time.perf_counter() - start


def _linked(paths: list[Path], folder: Path) -> Path:
    """A folder of links to ``paths``, for the backlog CLI to upload."""
    folder.mkdir()
    for i, path in enumerate(paths):
        (folder / f"{i:06d}.jpg").symlink_to(path.resolve())
    return folder


def _cpu_seconds(worker_pid: int, api_pid: int | None) -> dict[str, float]:
    """CPU seconds used so far by each part of the stack on this machine."""
    import psutil

    worker = psutil.Process(worker_pid)
    others = list(psutil.process_iter(["name"]))
    return {"worker": _cpu([worker, *worker.children(recursive=True)]),
            **({"API": _cpu([psutil.Process(api_pid)])} if api_pid else {}),
            "S3 stand-in" + ("" if api_pid else " and API") + " (this process)": _cpu([psutil.Process()]),
            "Postgres": _cpu(p for p in others if "postgres" in (p.info["name"] or "")),
            "Redis": _cpu(p for p in others if "redis" in (p.info["name"] or ""))}


def _upload_times(client, bodies: list[bytes], status: str) -> list[float]:
    """POST latency per upload; every answer must have ``status`` (``succeeded``: a dedup hit)."""
    times = []
    for body in bodies:
        start = time.perf_counter()
        resp = client.post("/v1/jobs", files={"file": ("a.jpg", body, "image/jpeg")}, data={"priority": "bulk"})
        times.append((time.perf_counter() - start) * 1000)
        assert resp.json()["status"] == status, resp.json()
    return times


def _lookup_ms_per_item(group: int = 16, rounds: int = 200) -> float:
    """The dedup look-up alone, as a worker runs it: one query for a set of hashes, per hash."""
    from core import jobs
    from core.db import session_scope
    from core.tables import Job

    with session_scope() as s:
        hashes = {sha for (sha,) in s.query(Job.sha256).filter(Job.sha256.is_not(None)).limit(group)}
        key = s.query(Job.model_key).filter(Job.model_key.is_not(None)).first()[0]
    start = time.perf_counter()
    for _ in range(rounds):
        with session_scope() as s:
            assert len(jobs.find_reusable_many(s, sha256s=hashes, key=key)) == len(hashes)
    return (time.perf_counter() - start) * 1000 / rounds / len(hashes)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5,
                        help="the images are split in this many parts; each goes through `deepfake scan` and "
                             "then the service, so both see the same machine (its speed drifts over minutes)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="worker child processes (default: one per core it runs on, as Celery does)")
    parser.add_argument("--worker-cores", type=int, default=0,
                        help="run the worker and the in-process scan on this many cores, the rest of the "
                             "stack on the others (0: everything shares every core)")
    parser.add_argument("--source", choices=("s3", "folder"), default="s3",
                        help="s3: one batch over an S3 prefix per round; folder: `deepfake backlog submit` "
                             "uploads a folder per round through an API process")
    args = parser.parse_args()
    worker_set, rest = _split_cores(args.worker_cores)
    concurrency = args.concurrency or len(worker_set or os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp, stack(), _on_cores(rest):
        paths = face_crops(args.items, Path(tmp))
        n, size = len(paths), -(-len(paths) // args.rounds)
        parts = [paths[i:i + size] for i in range(0, n, size)]
        with _on_cores(worker_set):  # the scanning processes keep these cores
            local = InProcess(paths)
        import boto3

        from core import db

        endpoint = _moto()
        db.reset()
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket="bench-backlog")
        s3.create_bucket(Bucket="bench-media")
        for r, part in enumerate(parts):
            for i, path in enumerate(part):
                s3.put_object(Bucket="bench-backlog", Key=f"inbox/{r}/{i:06d}.jpg", Body=path.read_bytes())
        from tests.api_client import make_client

        if concurrency > 1:
            os.environ["DEEPFAKE_TF_INTRA_OP_THREADS"] = "1"  # one thread per child when children share cores
        worker = start_worker(cpus=",".join(map(str, sorted(worker_set))) if worker_set else None,
                              concurrency=concurrency)
        api_port = _free_port()
        api = start_api(api_port, ",".join(map(str, sorted(rest))) if rest else None) \
            if args.source == "folder" else None
        api_pid = api.pid if api else None
        rounds = []  # (items, scan seconds, scan CPU seconds, service seconds, ingestion or upload seconds)
        cpu = dict.fromkeys(_cpu_seconds(worker.pid, api_pid), 0.0)
        try:
            with make_client() as client:
                from tests.api_client import submit_bytes, wait_for_job

                # Wait until the worker has its model loaded, so start-up is not counted.
                wait_for_job(client, submit_bytes(client, paths[0].read_bytes()).json()["id"], timeout=180)
                for r, part in enumerate(parts):
                    scan_s, scan_cpu = local.run(part)
                    before = _cpu_seconds(worker.pid, api_pid)
                    if api:
                        _, ingest_s, total_s = _run_folder(f"http://127.0.0.1:{api_port}",
                                                           _linked(part, Path(tmp) / f"round-{r}"),
                                                           Path(tmp) / f"state-{r}.json")
                    else:
                        _, ingest_s, total_s = _run_batch(client, f"s3://bench-backlog/inbox/{r}/")
                    for k, v in _cpu_seconds(worker.pid, api_pid).items():
                        cpu[k] += v - before[k]
                    rounds.append((len(part), scan_s, scan_cpu, total_s, ingest_s))
                before = _cpu_seconds(worker.pid, api_pid)["worker"]
                _, _, dedup_s = _run_batch(client, "s3://bench-backlog/inbox/")
                dedup_cpu = _cpu_seconds(worker.pid, api_pid)["worker"] - before
                fresh = [media_bytes(i) for i in range(100)]
                fresh_ms = _upload_times(client, fresh, "queued")
                for _ in range(50):  # let the worker finish them, so each is a stored result
                    if _all_done(client):
                        break
                    time.sleep(0.5)
                repeat_ms = _upload_times(client, fresh, "succeeded")
            lookup_ms = _lookup_ms_per_item()
        finally:
            local.close()
            for process in filter(None, (worker, api)):
                process.terminate()
                process.wait()
    scan_s, scan_cpu, service_s, ingest_s = (sum(r[i] for r in rounds) for i in range(1, 5))
    local_rate, service_rate = n / scan_s, n / service_s
    ratios = [100 * scan / service for _, scan, _, service, _ in rounds]
    where = (f"worker and scan on core(s) {sorted(worker_set)}, the rest of the stack on {sorted(rest)}"
             if worker_set else "everything sharing all cores")
    print(f"{n} face images (~5 KB JPEG) in {len(parts)} rounds; {where}; service: one worker with {concurrency} "
          f"child process(es); in-process: `deepfake scan` ({scan_cpu / scan_s:.1f} cores busy on average)")
    print(f"in-process: {local_rate:.1f} images/s ({1000 * scan_cpu / n:.1f} ms CPU per item)")
    path = ("`deepfake backlog submit FOLDER` -> API -> S3" if api else "S3 prefix") + " -> Redis -> worker -> Postgres"
    print(f"service ({path}): {service_rate:.1f} images/s "
          f"= {100 * service_rate / local_rate:.0f} % of in-process; per round "
          + ", ".join(f"{ratio:.0f} %" for ratio in ratios) + f" (median {statistics.median(ratios):.0f} %)")
    print("images/s per round, in-process / service: "
          + ", ".join(f"{items / scan:.0f} / {items / service:.0f}" for items, scan, _, service, _ in rounds))
    print("CPU per item during the service runs: " + ", ".join(f"{k} {1000 * v / n:.1f} ms" for k, v in cpu.items())
          + f"; {sum(cpu.values()) / service_s:.2f} of {os.cpu_count()} cores busy, the worker "
          + f"{cpu['worker'] / service_s:.2f}")
    if api:
        print(f"uploads by the backlog CLI: {n} files in {ingest_s:.2f} s ({n / ingest_s:.0f} files/s, "
              "its default of 4 requests in flight)")
    else:
        print(f"ingestion from the S3 prefix: {n} items created and queued in {ingest_s:.2f} s "
              f"({n / ingest_s:.0f} items/s, capped by DEEPFAKE_INGEST_RATE)")
    print(f"dedup, S3 items: the same {n} again in {dedup_s:.1f} s ({n / dedup_s:.0f} items/s, "
          f"{1000 * dedup_s / n:.1f} ms per item with its download and hash; worker CPU "
          f"{1000 * dedup_cpu / n:.1f} ms per item); the look-up itself {lookup_ms:.2f} ms per item")
    print(f"dedup, uploads: POST of a new image p50 {statistics.median(fresh_ms):.1f} ms, of the same image again "
          f"(answered succeeded from the stored result) p50 {statistics.median(repeat_ms):.1f} ms "
          f"(n={len(repeat_ms)}, upload included)")


def media_bytes(i: int) -> bytes:
    from tests import media

    return media.jpeg_bytes(media.astronaut(), quality=20 + i % 80) + bytes([i // 80])  # distinct bytes


def _all_done(client) -> bool:
    from core.db import session_scope
    from core.tables import Job

    with session_scope() as s:
        return s.query(Job).filter(Job.status.in_(["queued", "running"])).count() == 0


if __name__ == "__main__":
    main()
