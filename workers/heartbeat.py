"""While a worker process runs jobs, it writes their ``heartbeat_at`` every ``DEEPFAKE_HEARTBEAT_INTERVAL_S``.

The beat's recovery loop (``workers.recovery``) gives back a running job whose heartbeat is older than
``DEEPFAKE_HEARTBEAT_TIMEOUT_S``: its worker was killed, lost its machine, or hangs. One daemon thread per
process, started on first use (so in the forked child, never in the parent); a database outage skips beats
(the timeout is several intervals long) and is logged, never raised into the job.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from core import jobs, processes
from core.db import session_scope
from core.settings import get_settings

log = logging.getLogger(__name__)
_running: Counter[str] = Counter()  # job ID → how many tasks of this process are on it
_lock = threading.Lock()
_thread_pid: int | None = None  # the process whose thread is running (a forked child has none)


def worker_id() -> str:
    return processes.worker_id()


@contextmanager
def beating(job_ids: list[str]) -> Iterator[None]:
    """Heartbeats for ``job_ids`` while the block runs."""
    _ensure_thread()
    with _lock:
        _running.update(job_ids)
    try:
        yield
    finally:
        with _lock:
            _running.subtract(job_ids)
            for job_id in job_ids:
                if _running[job_id] <= 0:
                    del _running[job_id]


def beat_once() -> int:
    """Write one heartbeat for every job this process is on; returns how many."""
    with _lock:
        job_ids = list(_running)
    if job_ids:
        with session_scope() as session:
            jobs.heartbeat(session, job_ids)
    return len(job_ids)


def _ensure_thread() -> None:
    global _thread_pid
    with _lock:
        if _thread_pid == os.getpid():
            return
        _thread_pid = os.getpid()
    threading.Thread(target=_loop, name="heartbeat", daemon=True).start()


def _loop() -> None:
    interval = get_settings().heartbeat_interval_s
    while not threading.Event().wait(interval):
        try:
            beat_once()
        except Exception as exc:  # a database outage: the next beat tries again
            log.warning("heartbeat not written: %s", exc.__class__.__name__)
