"""Operational metrics of the processes that do the work (Prometheus counters and histograms).

Two kinds of figures, kept apart on purpose, because a deployment runs several API processes and several
worker machines, each a Celery parent with prefork children:

- **State** (jobs by status and lane, queue depth): read from Postgres, the record of truth, and the broker
  when ``GET /metrics`` is scraped (``api.routes_metrics``). Any API process answers the same figures, so
  they need no sharing between processes and cannot drift from the database.
- **Events** (this module: jobs finished, their duration and stages, failures by code, webhook attempts,
  recovered jobs): counted where they happen, in worker children. Children come and go (prefork, killed,
  recycled), so a worker keeps them in prometheus-client's multiprocess mode, in a folder of its own
  (``<work dir>/metrics/<host>:<pid>`` of the Celery parent, so that two workers on one machine never
  clear each other's), and its parent serves them on ``DEEPFAKE_WORKER_METRICS_PORT``. Prometheus scrapes
  each worker machine and adds them up (``sum(rate(...))``). A folder outlives the children that wrote to
  it (counts of a killed child stay counted) and goes when its parent is gone.

Metrics are made on first use, not at import: prometheus-client picks in-memory or multiprocess storage
when a metric is made, and a worker names its folder only once Celery has started it.
"""

from __future__ import annotations

import logging
import os
import shutil
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

from core import processes
from core.settings import Settings

log = logging.getLogger(__name__)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
STAGES = ("decode", "detect", "classify", "total")


@lru_cache(maxsize=1)
def _events() -> SimpleNamespace:
    from prometheus_client import Counter, Histogram

    return SimpleNamespace(
        finished=Histogram("deepfake_job_duration_seconds", "Jobs finished by workers: seconds from start to end",
                           ["lane", "status"], buckets=DURATION_BUCKETS),
        stages=Histogram("deepfake_stage_seconds", "Analysis time per job and stage (classify: model inference)",
                         ["stage"], buckets=STAGE_BUCKETS),
        failures=Counter("deepfake_job_failures_total", "Jobs that failed, by error code", ["code"]),
        webhooks=Counter("deepfake_webhook_attempts_total",
                         "Webhook delivery attempts by what followed: succeeded, retrying, failed (gave up)",
                         ["result"]),
        recovered=Counter("deepfake_jobs_recovered_total", "Jobs the recovery loop repaired, by action",
                          ["action"]),
    )


def record_finished(jobs: list) -> None:
    """Count jobs a worker just moved to a terminal state (``core.tables.Job`` rows, committed)."""
    events = _events()
    for job in jobs:
        if job.started_at and job.finished_at:
            seconds = (job.finished_at - job.started_at).total_seconds()
            events.finished.labels(job.priority, job.status).observe(max(0.0, seconds))
        if job.error_code:
            events.failures.labels(job.error_code).inc()
        _record_stages(events, job.result)


def _record_stages(events: SimpleNamespace, result: dict | None) -> None:
    """Stage times of an analysis (``timings_ms`` of the result); a reused result ran no analysis."""
    if not result or result.get("reused"):
        return
    timings = result.get("timings_ms") or {}
    for stage in STAGES:
        if isinstance(timings.get(stage), int | float):
            events.stages.labels(stage).observe(timings[stage] / 1000)


def record_webhook_attempt(delivery_status: str) -> None:
    """One attempt, by the delivery's status after it (``core.webhooks``): succeeded, pending (counted as
    retrying: another attempt follows) or failed (no more attempts)."""
    _events().webhooks.labels({"pending": "retrying"}.get(delivery_status, delivery_status)).inc()


def record_recovered(counts: dict[str, int]) -> None:
    """One pass of the recovery loop: jobs given back, failed as worker_lost, resent, segments resent."""
    for action, count in counts.items():
        if count:
            _events().recovered.labels(action).inc(count)


def use_multiprocess_folder(base: Path) -> Path:
    """In a worker's parent, before it forks: keep this worker's metrics in ``base/<host>:<pid>``, emptied,
    and remove the folders of workers that are gone. Returns the folder."""
    from prometheus_client import values

    for folder in base.glob("*:*") if base.is_dir() else []:
        if processes.alive(folder.name) is False:
            shutil.rmtree(folder, ignore_errors=True)
    folder = base / processes.worker_id()
    shutil.rmtree(folder, ignore_errors=True)  # a reused pid's old counts are not ours
    folder.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(folder)
    # prometheus-client chose in-memory storage when it was imported; metrics made from now on (in this
    # process and its forked children) write to the folder instead.
    values.ValueClass = values.get_value_class()
    return folder


def serve(settings: Settings) -> None:
    """Serve this worker's metrics on ``DEEPFAKE_WORKER_METRICS_PORT`` (0: not served)."""
    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    if not settings.worker_metrics_port:
        return
    registry = REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    start_http_server(settings.worker_metrics_port, settings.worker_metrics_host, registry=registry)
    log.info("worker metrics on %s:%d/metrics", settings.worker_metrics_host, settings.worker_metrics_port)
