"""Keeps library start-up chatter and idle housekeeping out of what a CLI user reads (unless ``--verbose``).

On a machine without a GPU every TensorFlow start prints ~8 lines (oneDNN, "could not find cuda
drivers", CPU instructions, ``failed call to cuInit``), and an idle ``deepfake serve`` logs ~54
scheduler lines a minute. None of it is something the user can act on.

- ``TF_CPP_MIN_LOG_LEVEL=3`` (set here, before anything imports TensorFlow, unless the user set it)
  hides TensorFlow's own messages, ``cuInit`` included. The lines TensorFlow writes while its shared
  libraries load come before its logging starts and ignore that setting: ``import_tensorflow`` catches
  them at the file-descriptor level and passes on every other line.
- ``serve``'s embedded worker writes to a pipe; ``forward`` drops those same start-up lines, the
  periodic tasks' "due / received / succeeded" lines and the embedded broker's "no hostname" warning,
  and passes everything else, job lines included. (Its Celery banner is switched off with ``--quiet``.)
- Run as root (a container, ``./dev serve`` in a VM), that worker would also print Celery's multi-line
  "running the worker with superuser privileges" warning. ``SERVE_WORKER_PYTHON`` (a ``-W`` filter for the
  worker's interpreter) ignores that one warning by its text; every other warning still shows.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import sys
import tempfile
from collections.abc import Iterable
from typing import TextIO

# What TensorFlow's native code prints on start-up: absl's "before InitializeLog" notice, its
# pre-initialisation INFO/WARNING lines (timestamped "0000 00:00:"), the CPU-instructions
# continuation line, and the cuInit error of a machine without a GPU.
_TF_NOISE = re.compile(r"WARNING: All log messages before absl::InitializeLog\(\)|[IW]0000 00:00:|"
                       r"To enable the following instructions:|"
                       r"E0000 00:00:\S+\s+\d+ cuda_\w+\.cc:\d+\] failed call to cuInit")


@functools.cache
def _housekeeping() -> re.Pattern:
    """Celery's lines for the beat's periodic tasks: sent by the beat, received and finished by the worker.
    (Built on first use: ``scan`` never needs Celery.)"""
    from workers.celery_app import PERIODIC_TASKS

    periodic = "|".join(re.escape(name) for name in PERIODIC_TASKS)
    return re.compile(rf"Scheduler: Sending due task .*\(({periodic})\)|Task ({periodic})\[[^\]]+\] "
                      r"(received|succeeded)|No hostname was supplied. Reverting to default 'localhost'")


# Celery's SecurityWarning for a worker running as root: ``serve``'s worker is the user's own, on their machine.
SERVE_WORKER_PYTHON = ["-W", "ignore:You're running the worker with superuser privileges:Warning"]


def quiet_environment() -> None:
    """TensorFlow's log threshold for this process and its children (a value the user set wins)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def is_noise(line: str) -> bool:
    """True for a line a CLI user need not see: TensorFlow start-up chatter or idle housekeeping."""
    return bool(_TF_NOISE.match(line) or _housekeeping().search(line))


def import_tensorflow() -> None:
    """Import TensorFlow with its start-up lines kept off the terminal; any other line it prints is
    passed on to stderr (an import error still raises, with its traceback). A user who lowered
    ``TF_CPP_MIN_LOG_LEVEL`` below 2 (INFO and WARNING shown) sees them all."""
    if "tensorflow" in sys.modules:
        return
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3") in ("0", "1"):
        importlib.import_module("tensorflow")
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+", errors="replace") as caught:
        os.dup2(caught.fileno(), 2)
        try:
            importlib.import_module("tensorflow")
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            sys.stderr.writelines(line for line in caught if not is_noise(line))


def forward(lines: Iterable[str], out: TextIO) -> None:
    """Copy ``lines`` (a child's output) to ``out`` as they come, without the noise."""
    for line in lines:
        if not is_noise(line):
            out.write(line)
            out.flush()
