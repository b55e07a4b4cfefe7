"""Several analysing processes on one machine, with each library's default thread pools and with one
thread each: why worker processes cap their threads (``pipeline/threads.py``).

    .venv/bin/python -m bench.process_threads [--processes 2] [--images 600]

Each process runs ``deepfake scan``'s loop over the same face crops (DFDC from ../shared when present,
else generated) and prints its images per second.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path


def one_process(images: int, capped: bool) -> None:
    """Runs inside each child: load, warm up, wait for the start signal on stdin, scan, print the rate."""
    import tempfile

    from bench.backlog import face_crops
    from cli.scan import scan_files
    from core.settings import get_settings
    from pipeline import load_classifier
    from pipeline.threads import limit_threads

    if capped:
        import tensorflow as tf

        limit_threads(1)
        tf.config.threading.set_intra_op_parallelism_threads(1)
    paths = face_crops(images, Path(tempfile.mkdtemp()))
    classifier = load_classifier()
    classifier.warm_up()
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.perf_counter()
    for _row in scan_files(paths, classifier, get_settings()):
        pass
    print(f"{len(paths) / (time.perf_counter() - start):.1f}", flush=True)


def run(processes: int, images: int, capped: bool) -> list[float]:
    """Start the processes, let them all load, then start them together; images/s of each."""
    argv = [sys.executable, "-m", "bench.process_threads", "--child", "--images", str(images)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    children = [subprocess.Popen([*argv, *(["--capped"] if capped else [])], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True, env=env) for _ in range(processes)]
    for child in children:
        assert child.stdout.readline().strip() == "ready"
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    rates = [float(child.stdout.readline()) for child in children]
    for child in children:
        child.wait()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=os.cpu_count())
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--capped", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        one_process(args.images, args.capped)
        return
    print(f"{args.processes} processes on {os.cpu_count()} cores, {args.images} images each")
    for capped in (False, True):
        rates = run(args.processes, args.images, capped)
        label = "one thread per library" if capped else "default thread pools"
        print(f"{label}: " + ", ".join(f"{r:.1f}" for r in rates) + f" images/s (total {sum(rates):.1f})")


if __name__ == "__main__":
    main()
