"""Keeps ``deepfake serve``'s embedded worker process alive: restarted whenever it exits unasked.

Why: the embedded broker (kombu's file transport) can hand the worker a message file that is still
being written; Celery then stops with an "unrecoverable" decode error. Without a restart the API
would keep accepting jobs that nothing runs. A restarted worker (with its beat) picks them up, and
the beat's recovery loop re-sends any job whose message was lost.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)


class Supervisor:
    """Runs ``argv`` as a child process and starts it again after an unasked exit.

    Restarts wait ``backoff_s`` seconds, doubled after each exit that came sooner than ``stable_s``
    after its start, capped at ``max_backoff_s``. ``restarts`` counts them. ``stderr_to``, when given,
    receives each child's stderr as an iterable of lines, on a thread of its own (else the child
    writes to this process's stderr).
    """

    def __init__(self, argv: list[str], backoff_s: float = 1.0, max_backoff_s: float = 30.0, stable_s: float = 60.0,
                 stderr_to: Callable[[Iterable[str]], None] | None = None):
        self.argv, self.restarts, self._stderr_to = argv, 0, stderr_to
        self._backoff = self._min_backoff = backoff_s
        self._max_backoff, self._stable = max_backoff_s, stable_s
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.process = self._start()
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)
        self._thread.start()

    def _start(self) -> subprocess.Popen:
        if self._stderr_to is None:
            return subprocess.Popen(self.argv)
        process = subprocess.Popen(self.argv, stderr=subprocess.PIPE, text=True, errors="replace", bufsize=1)
        threading.Thread(target=self._stderr_to, args=(process.stderr,), name="worker-stderr", daemon=True).start()
        return process

    def _watch(self) -> None:
        import time

        started = time.monotonic()
        while not self._stopping.is_set():
            code = self.process.poll()
            if code is None:
                self._stopping.wait(0.5)
                continue
            quick = time.monotonic() - started < self._stable
            self._backoff = min(self._backoff * 2, self._max_backoff) if quick else self._min_backoff
            log.error("worker process exited with status %s; restarting in %.0f s", code, self._backoff)
            if self._stopping.wait(self._backoff):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self.process = self._start()
                self.restarts += 1
            started = time.monotonic()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop watching, then terminate the child and wait for it (killed after ``timeout`` seconds)."""
        self._stopping.set()
        with self._lock:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._thread.join(timeout=5)
