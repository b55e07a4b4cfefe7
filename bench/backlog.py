"""A backlog of small face images through the service, against the same images in-process.

    .venv/bin/python -m bench.backlog [--items 2000]

1. In-process: what ``deepfake scan`` does, over the images on local disk, one process
   (images grouped ``DEEPFAKE_BULK_GROUP_SIZE`` at a time, as the workers group bulk items).
2. Service: the images in S3 (moto server on loopback), one batch over the prefix, one worker
   (prefork, ``--concurrency`` children, one by default: the same compute as step 1), Redis and
   Postgres. Timed from ``POST /v1/batches`` to ``completed``; ingestion timed on its own.
3. Dedup: the same prefix again; every item reuses a stored result. Per item: started → finished.

Images: DFDC face crops from ../shared when present, else generated crops.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

from bench._stack import stack, start_worker

SHARED_CROPS = Path(__file__).resolve().parents[2] / "shared/data/faces/dfdc/train"


def _images(n: int, folder: Path) -> list[Path]:
    if SHARED_CROPS.exists():
        return sorted(SHARED_CROPS.glob("*/*.jpg"))[:n]
    from tests import media

    paths = []
    for i in range(n):
        path = folder / f"{i}.jpg"
        path.write_bytes(media.jpeg_bytes(media.astronaut()[20:260, 130:330], quality=50 + i % 50))
        paths.append(path)
    return paths


def in_process(paths: list[Path]) -> float:
    """Images per second through ``deepfake scan``'s loop (images grouped as on the bulk lane)."""
    from core.scan import scan_files
    from core.settings import get_settings
    from pipeline import load_classifier

    classifier = load_classifier()
    classifier.warm_up()
    start = time.perf_counter()
    for _row in scan_files(paths, classifier, get_settings()):
        pass
    return len(paths) / (time.perf_counter() - start)


def _moto() -> str:
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False).start()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request costs CPU here
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
        time.sleep(0.05)
    return batch_id, ingested or (time.perf_counter() - start), time.perf_counter() - start


def _repeat_uploads(client, body: bytes, n: int = 200) -> list[float]:
    """Latency of uploading bytes already analysed: answered at submission from the stored result."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        resp = client.post("/v1/jobs", files={"file": ("a.jpg", body, "image/jpeg")})
        times.append((time.perf_counter() - start) * 1000)
        assert resp.json()["status"] == "succeeded", resp.json()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=1, help="worker child processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, stack():
        paths = _images(args.items, Path(tmp))
        n = len(paths)
        local_rate = in_process(paths)
        import boto3

        from core import db

        endpoint = _moto()
        db.reset()
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket="bench-backlog")
        s3.create_bucket(Bucket="bench-media")
        for i, path in enumerate(paths):
            s3.put_object(Bucket="bench-backlog", Key=f"inbox/{i:06d}.jpg", Body=path.read_bytes())
        from core.db import session_scope
        from core.tables import Job
        from tests.api_client import make_client

        if args.concurrency > 1:
            os.environ["DEEPFAKE_TF_INTRA_OP_THREADS"] = "1"  # one thread per child when children share cores
        worker = start_worker(concurrency=args.concurrency)
        try:
            with make_client() as client:
                from tests.api_client import submit_bytes, wait_for_job

                # Wait until the worker has its model loaded, so start-up is not counted.
                wait_for_job(client, submit_bytes(client, paths[0].read_bytes()).json()["id"], timeout=180)
                _, ingest_s, total_s = _run_batch(client, "s3://bench-backlog/inbox/")
                _, _, dedup_s = _run_batch(client, "s3://bench-backlog/inbox/")
                upload_hit_ms = _repeat_uploads(client, paths[1].read_bytes())
            with session_scope() as s:
                reused = [j for j in s.query(Job).filter(Job.reused_from.is_not(None), Job.started_at.is_not(None))]
                hit_ms = [(j.finished_at - j.started_at).total_seconds() * 1000 for j in reused]
        finally:
            worker.terminate()
            worker.wait()
    service_rate = n / total_s
    print(f"{n} face images (~5 KB JPEG), one worker with {args.concurrency} child process(es) "
          f"vs one in-process loop (deepfake scan)")
    print(f"in-process: {local_rate:.1f} images/s")
    print(f"service (S3 -> Redis -> worker -> Postgres): {service_rate:.1f} images/s "
          f"= {100 * service_rate / local_rate:.0f} % of in-process")
    print(f"ingestion from the S3 prefix: {n} items created and queued in {ingest_s:.2f} s "
          f"({n / ingest_s:.0f} items/s, capped by DEEPFAKE_INGEST_RATE)")
    print(f"dedup, S3 items: the same {n} again in {dedup_s:.1f} s ({n / dedup_s:.0f} items/s); per reused item, "
          f"started -> finished (fetch and hash included) p50 {statistics.median(hit_ms):.1f} ms (n={len(hit_ms)})")
    print(f"dedup, uploads: POST of an already analysed image answered succeeded in p50 "
          f"{statistics.median(upload_hit_ms):.1f} ms (n={len(upload_hit_ms)}, upload included)")


if __name__ == "__main__":
    main()
