"""A multi-process ``deepfake scan`` stopped half-way: Ctrl-C (SIGINT to the terminal's whole process group)
exits 130, SIGTERM exits 143, both without a traceback from a scanning process or a leaked-semaphore warning."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests import media

pytestmark = pytest.mark.slow


def _scan_until_rows_come(tmp_path) -> subprocess.Popen:
    photo = media.jpeg_bytes(media.astronaut())
    for i in range(400):  # far more than two processes finish before the signal
        media.write(tmp_path / f"{i:03}.jpg", photo)
    proc = subprocess.Popen([sys.executable, "-m", "cli", "scan", "--json", "--processes", "2", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_as_from_a_terminal)
    assert proc.stdout.readline().startswith("{"), proc.stderr.read()  # the pool is scanning
    return proc


def _as_from_a_terminal() -> None:
    # A shell without job control starts background commands with SIGINT ignored, and Python keeps it ignored:
    # a test run started that way would hand the scan a Ctrl-C it cannot hear. A terminal's scan hears it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(("send", "status"), [
    (lambda proc: os.killpg(proc.pid, signal.SIGINT), 130),  # what Ctrl-C does
    (lambda proc: proc.send_signal(signal.SIGTERM), 143),  # what `kill` or a supervisor does
])
def test_a_stopped_scan_ends_quietly_with_the_signals_status(tmp_path, send, status):
    proc = _scan_until_rows_come(tmp_path)
    send(proc)
    try:
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == status, stderr
    assert "Traceback" not in stderr and "leaked" not in stderr and "Error" not in stderr, stderr
    assert _group_gone(proc.pid), "a scanning process outlived the scan"


def _group_gone(group: int) -> bool:
    import psutil

    deadline = time.monotonic() + 10  # multiprocessing's resource tracker leaves once the scan's pipe closes
    while time.monotonic() < deadline:
        left = [p for p in psutil.process_iter(["pid"]) if _group_of(p.pid) == group]
        if not left:
            return True
        time.sleep(0.2)
    print([(p.pid, p.cmdline()) for p in left])
    return False


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None
