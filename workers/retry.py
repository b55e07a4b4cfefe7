"""Database outages inside tasks: the task is sent again later, with backoff, never taken as the job's end.

Without this, an ``OperationalError`` in a job's start or finish transaction ended the task, Celery
acknowledged it, and the job stayed ``queued`` or ``running`` for good. The retry is a new message with a
countdown (Celery's ``Task.retry``); should the broker be down too, the beat's recovery loop
(``workers.recovery``) sends the job again once both are back.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager

from celery import Task

from core import db

log = logging.getLogger(__name__)
BACKOFF_MAX_S = 60.0
# Celery reads retry(max_retries=None) as "the task's own limit" (3 by default), not "no limit": after three
# tries the task failed, was acknowledged, and the job waited for the recovery loop.
FOREVER = float("inf")


def backoff(retries: int) -> float:
    """1, 2, 4 ... 60 s, each with up to a quarter more at random so that workers do not retry in step."""
    delay = min(2.0 ** retries, BACKOFF_MAX_S)
    return delay * (1 + random.random() / 4)


@contextmanager
def retry_on_database_error(task: Task, **retry_kwargs) -> Iterator[None]:
    """Around a task's body: a database outage re-sends the task (with ``retry_kwargs`` added to its
    keyword arguments) after a backoff, for as long as the outage lasts; any other error goes on up."""
    try:
        yield
    except Exception as exc:
        if not db.unavailable(exc):
            raise
        countdown = backoff(task.request.retries)
        log.warning("%s %s: database unavailable (%s); retrying in %.0f s", task.name, task.request.args,
                    exc.__class__.__name__, countdown)
        raise task.retry(exc=exc, countdown=countdown, max_retries=FOREVER,
                         kwargs={**(task.request.kwargs or {}), **retry_kwargs}) from exc
