"""Each worker process keeps its temporary files (media copies, group downloads) in a folder of its own,
``<work_dir>/<host>:<pid>``; a process killed mid-job leaves its folder behind, and the next worker
process to start on the host removes the folders of processes that no longer exist."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from core import processes
from core.settings import Settings

log = logging.getLogger(__name__)


def base_dir(settings: Settings) -> Path:
    return settings.work_dir or Path(tempfile.gettempdir()) / "deepfake-work"


def sweep(settings: Settings) -> int:
    """Remove the folders of this host's dead worker processes; returns how many."""
    base = base_dir(settings)
    removed = 0
    for folder in base.glob("*:*") if base.is_dir() else []:
        if processes.alive(folder.name) is False:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    if removed:
        log.info("removed the temporary files of %d dead worker processes", removed)
    return removed


def use_own_folder(settings: Settings) -> Path:
    """Sweep, then make this process's folder the default for ``tempfile`` (so every temporary file of a
    job, ours or a library's, lands there)."""
    sweep(settings)
    folder = base_dir(settings) / processes.worker_id()
    folder.mkdir(parents=True, exist_ok=True)
    tempfile.tempdir = str(folder)
    return folder
