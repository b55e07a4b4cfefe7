"""Submit → worker start latency, and one 1080p photo end to end on one CPU core.

    .venv/bin/python -m bench.job_latency [--jobs 40]

A real prefork worker (one child, TensorFlow on one thread) is pinned to one
core with taskset; jobs are submitted one at a time through the API (in
process) on Postgres + Redis, each waited for before the next, so the worker
is idle when a job arrives. Latencies come from the job's own timestamps:
``started_at - created_at`` and ``finished_at - created_at``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import cv2
import numpy as np

from bench._stack import percentiles, stack, start_worker
from tests import media


def photo_1080p() -> bytes:
    """A 1920x1080 photo with one face (the astronaut scaled to the frame height)."""
    face = cv2.resize(media.astronaut(), (1080, 1080), interpolation=cv2.INTER_CUBIC)
    canvas = np.full((1080, 1920, 3), 90, np.uint8)
    canvas[:, 420:1500] = face
    return media.jpeg_bytes(canvas, quality=90)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--cpu", default="0", help="core(s) the worker is pinned to")
    args = parser.parse_args()
    os.environ["DEEPFAKE_TF_INTRA_OP_THREADS"] = "1"
    os.environ["DEEPFAKE_TF_INTER_OP_THREADS"] = "1"
    body = photo_1080p()
    with stack():
        from core import jobs
        from core.db import session_scope
        from tests.api_client import make_client, wait_for_job

        worker = start_worker(cpus=args.cpu)
        try:
            with make_client() as client:
                warm = client.post("/v1/jobs", files={"file": ("p.jpg", body, "image/jpeg")}, data={"dedup": "false"})
                wait_for_job(client, warm.json()["id"], timeout=180)  # warm-up
                rows = []
                for _ in range(args.jobs):
                    # dedup off: the same photo each time must really run
                    job_id = client.post("/v1/jobs", files={"file": ("p.jpg", body, "image/jpeg")},
                                         data={"dedup": "false"}).json()["id"]
                    done = wait_for_job(client, job_id, timeout=60)
                    assert done["status"] == "succeeded", done
                    with session_scope() as s:
                        job = jobs.get_job(s, job_id)
                        rows.append((job.created_at, job.started_at, job.finished_at, done["result"]["timings_ms"]))
                    time.sleep(0.05)
        finally:
            worker.terminate()
            worker.wait()
    ms = lambda a, b: (b - a).total_seconds() * 1000  # noqa: E731
    print(f"worker pinned to CPU {args.cpu}, TensorFlow 1 thread; 1920x1080 JPEG ({len(body)} B), one face")
    print(f"submit -> worker start: {percentiles([ms(c, s) for c, s, _, _ in rows])}")
    print(f"submit -> result stored (end to end): {percentiles([ms(c, f) for c, _, f, _ in rows])}")
    for stage in ("decode", "detect", "classify", "total"):
        print(f"  pipeline {stage:<8} p50 {statistics.median(t[stage] for *_, t in rows):.1f} ms")


if __name__ == "__main__":
    main()
