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


def configure_tensorflow(intra_op: int = 0, inter_op: int = 0) -> None:
    """Size TensorFlow's thread pools (0: TensorFlow's default) and let GPUs grow memory on demand.

    Imports TensorFlow, so call it only where a model runs on Keras: with ONNX Runtime a worker
    never needs TensorFlow (about 120 MB less per process) until Grad-CAM asks for the Keras model.
    The pools can be sized only before TensorFlow first runs an op; later calls keep them as they are.
    """
    import logging

    import tensorflow as tf

    try:
        if intra_op:
            tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        if inter_op:
            tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError:  # TensorFlow already ran in this process (a test, an embedding program)
        logging.getLogger(__name__).info("TensorFlow was already initialised; thread settings left as they are")
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)  # several workers may share a GPU
        except RuntimeError:  # already initialised: its memory policy is set
            pass
