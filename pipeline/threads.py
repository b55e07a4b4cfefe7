"""How many threads the pipeline's native libraries may use in this process.

The face detector runs on OpenMP and OpenCV has its own pool; each starts one
thread per core by default. Several worker processes on one machine then run
cores x processes spinning threads, and throughput collapses (measured: two
processes with default pools analysed 10 images/s each; with one thread each,
84 and 88). Worker processes call ``limit_threads`` with their share of the cores.
"""

from __future__ import annotations

import os


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity (taskset, a container's cpuset) where known."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cores_per_process(processes: int) -> int:
    """An equal share of the available cores for each of ``processes`` processes (at least one)."""
    return max(1, available_cores() // max(1, processes))


def limit_threads(threads: int) -> None:
    """Cap OpenCV's pool and every OpenMP runtime loaded (the detector's) at ``threads``.

    Applies to the calling thread's OpenMP calls: call it from the thread that runs the pipeline.
    """
    import cv2
    from threadpoolctl import threadpool_limits

    from pipeline.faces import detector_name

    detector_name()  # imports the detector: its OpenMP runtime must be loaded for the limit to reach it
    cv2.setNumThreads(threads)
    threadpool_limits(limits=threads, user_api="openmp")
