"""Which process is which: the ID a worker process writes on the jobs it runs, and whether it still lives.

An ID is ``host:pid``. Whether a process lives can be told only on its own host (``alive`` answers None
elsewhere); other hosts' processes are judged by their jobs' heartbeats (``core.jobs``).
"""

from __future__ import annotations

import os
import socket


def worker_id(pid: int | None = None) -> str:
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def alive(worker: str | None) -> bool | None:
    """True or False for a process of this host; None when ``worker`` is of another host, or unknown."""
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True
