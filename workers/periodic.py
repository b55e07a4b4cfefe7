"""What a task the beat schedules does while the database is unreachable: one line per tick, no traceback.

A periodic task runs again at its next tick whatever happens to this one, so a database outage is not its
failure: the tick logs one warning, ``<task>: database unavailable, will retry next tick: <reason>``, and
returns None (Celery then logs no traceback). Any other error still goes up, traceback and all: that is a
bug. Nothing has to restart when the database returns: the pool drops dead connections at checkout
(``core.db``), so the next tick connects afresh and does the work.

``workers.celery_app`` applies this, as a Celery task annotation, to every task in its beat schedule, so
the task modules (recovery, dispatchers, retention) need not know about it and a task added to the
schedule cannot be left out.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from core import db

log = logging.getLogger(__name__)
_SQLALCHEMY_LINK = re.compile(r"\s*\(Background on this error at: [^)]*\)")


def reason(exc: BaseException) -> str:
    """The driver's own words for an outage, on one line: ``OperationalError: connection failed: ...``."""
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in _SQLALCHEMY_LINK.sub("", str(cause)).splitlines() if line.strip()]
    return f"{cause.__class__.__name__}: {lines[0]}"[:300] if lines else cause.__class__.__name__


def tolerate_outages(call: Callable[..., Any]) -> Callable[..., Any]:
    """``Task.__call__`` made to log a database outage as one line and return None instead of raising."""

    def tick(task, *args, **kwargs):
        try:
            return call(task, *args, **kwargs)
        except Exception as exc:
            if not db.unavailable(exc):
                raise
            log.warning("%s: database unavailable, will retry next tick: %s", task.name, reason(exc))
            return None

    return tick


def annotations(task_names: Iterable[str]) -> dict[str, dict[str, Callable]]:
    """The ``task_annotations`` setting that wraps these tasks' ``__call__`` (Celery's "@" prefix: around
    the method the task already has), which a worker calls for every message of the task."""
    return {name: {"@__call__": tolerate_outages} for name in task_names}
