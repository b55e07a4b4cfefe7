"""The per-process model: loaded once when a worker process starts, never at import.

Prefork children load it in ``worker_process_init`` (a model built before the
fork hangs the children); the solo pool has no children and loads it in
``worker_init``. The parent checks the model's metadata first, so a missing
or broken model stops the worker at start-up instead of failing every job.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

from celery.signals import worker_init, worker_process_init

from core import metrics
from core.settings import Settings, get_settings
from pipeline import FaceClassifier, load_classifier
from pipeline.classifier import check_model, inference_runtime
from pipeline.threads import cores_per_process, limit_threads
from workers import workdir

log = logging.getLogger(__name__)
_classifier: FaceClassifier | None = None
_IMPORT_PID = os.getpid()  # the solo pool also sends worker_process_init, without forking
_lock = threading.RLock()  # Keras inference is not thread-safe; load() runs under it too
_processes = 1  # processes of this worker that analyse media; set in the parent before it forks them


def threads(settings: Settings) -> int:
    """Threads for this process's native libraries: set, or an equal share of the cores per worker process."""
    return settings.threads_per_process or cores_per_process(_processes)


def load(settings: Settings | None = None) -> FaceClassifier:
    """Load and warm the model for this process (idempotent).

    TensorFlow is imported only when the model runs on Keras (``pipeline.classifier.load_classifier``).
    """
    global _classifier
    with _lock:
        if _classifier is None:
            settings = settings or get_settings()
            limit_threads(threads(settings))
            classifier = load_classifier(settings.model_path, settings.classify_batch_size,
                                         runtime=settings.inference_runtime,
                                         threads=settings.tf_intra_op_threads or threads(settings),
                                         inter_op_threads=settings.tf_inter_op_threads)
            classifier.warm_up()
            _classifier = classifier
            log.info("model %s %s loaded (%s)", classifier.spec.name, classifier.spec.version, classifier.runtime)
    return _classifier


def classifier() -> FaceClassifier:
    if _classifier is None:
        return load()
    return _classifier


def inference_lock() -> threading.RLock:
    return _lock


@worker_init.connect
def _on_worker_init(sender=None, **_kwargs) -> None:
    global _processes
    settings = get_settings()
    # A missing model, or an impossible runtime (no export for 'onnx', MesoNet weights on 'onnx'), stops the
    # worker here with one line, not every job. SystemExit: Celery logs and ignores a signal handler's Exception.
    try:
        check_model(settings.model_path)
        runs_on = inference_runtime(settings.model_path, settings.inference_runtime)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: the model cannot be loaded: {exc}; check DEEPFAKE_MODEL_PATH (now "
              f"{settings.model_path or 'unset: the shipped model'}) and DEEPFAKE_INFERENCE_RUNTIME "
              f"({settings.inference_runtime})", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    _processes = getattr(sender, "concurrency", None) or 1
    pool = getattr(sender, "pool_cls", None)
    pool_name = pool if isinstance(pool, str) else getattr(pool, "__module__", "")
    if "solo" in pool_name:
        workdir.use_own_folder(settings)
        load(settings)
    else:
        workdir.sweep(settings)  # temporary files of children killed before this worker started
        metrics.use_multiprocess_folder(workdir.base_dir(settings) / "metrics")  # before the children exist
        if runs_on == "tensorflow":
            import tensorflow  # noqa: F401 - imported once in the parent: children start faster
    _serve_metrics(settings)


def _serve_metrics(settings: Settings) -> None:
    try:
        metrics.serve(settings)
    except OSError as exc:  # the port is taken: a worker without its metrics still does its work
        log.error("worker metrics not served on port %d: %s", settings.worker_metrics_port, exc)


@worker_process_init.connect
def _on_worker_process_init(**_kwargs) -> None:
    from core import db

    if os.getpid() != _IMPORT_PID:
        db.reset(close=False)  # a forked child must not use the parent's connections
    workdir.use_own_folder(get_settings())  # and removes what a killed predecessor left
    load()
