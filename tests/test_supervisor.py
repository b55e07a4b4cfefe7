"""deepfake serve's worker is restarted when it exits unasked, and stopped when asked."""

from __future__ import annotations

import sys
import time

from cli.supervisor import Supervisor


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_worker_that_exits_is_started_again(tmp_path):
    marker = tmp_path / "starts"
    # Each start appends a line, then the process exits at once, as the crashed embedded worker did.
    script = f"open({str(marker)!r}, 'a').write('x\\n')"
    supervisor = Supervisor([sys.executable, "-c", script], backoff_s=0.05, max_backoff_s=0.1)
    try:
        assert _wait_for(lambda: marker.exists() and len(marker.read_text().splitlines()) >= 3, 20)
        assert supervisor.restarts >= 2
    finally:
        supervisor.stop(timeout=5)


def test_stop_terminates_a_running_worker_and_restarts_nothing():
    supervisor = Supervisor([sys.executable, "-c", "import time; time.sleep(60)"], backoff_s=0.05)
    first = supervisor.process
    supervisor.stop(timeout=5)
    assert first.poll() is not None
    time.sleep(0.3)
    assert supervisor.restarts == 0 and supervisor.process is first
