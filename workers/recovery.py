"""The beat's recovery loop: every accepted job reaches a terminal state, whatever died on the way.

Every ``DEEPFAKE_RECOVER_INTERVAL_S`` (one beat per deployment; safe to run twice at once):

- a running job with no heartbeat for ``DEEPFAKE_HEARTBEAT_TIMEOUT_S`` (its worker was killed, lost its
  machine, or hangs): given back to ``queued`` and sent again; after ``DEEPFAKE_MAX_ATTEMPTS`` attempts it
  fails as ``worker_lost``. One split into video segments has its unfinished segments sent again instead.
- a queued job sent over ``DEEPFAKE_RESEND_GRACE_S`` ago whose message is in no queue, nor held by a worker
  for less than that (Redis lost its data, the publish failed after the commit, a prefetched message died
  with its worker): sent again.

Sending twice is harmless: a finished job refuses to start, and a running one refuses a second worker while
its own lives (``core.jobs.start``). Unsent batch items are ``workers.batches.dispatch_stragglers``'s.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from datetime import timedelta

from sqlalchemy import exists, select

from core import jobs, metrics
from core.clock import now
from core.db import session_scope
from core.settings import Settings, get_settings
from core.tables import VideoSegment
from workers.celery_app import PROCESS_JOB, PROCESS_JOBS, QUEUES, RECOVER_JOBS, app, enqueue_jobs
from workers.outcome import announce
from workers.segments import send_pending

log = logging.getLogger(__name__)
LIMIT = 500  # jobs looked at per pass and kind
QUEUE_WINDOW = 2000  # messages read from the consuming end of each queue (the oldest, where lost jobs would be)


@app.task(name=RECOVER_JOBS)
def recover_jobs() -> dict[str, int]:
    settings = get_settings()
    counts = {**recover_running(settings), "resent": resend_lost(settings)}
    metrics.record_recovered(counts)
    if any(counts.values()):
        log.info("recovery: %s", counts)
    return counts


def recover_running(settings: Settings) -> dict[str, int]:
    """Running jobs without a heartbeat: given back and sent again, failed as worker_lost, or their
    segments sent again."""
    before = now() - timedelta(seconds=settings.heartbeat_timeout_s)
    counts = {"given_back": 0, "worker_lost": 0, "segments_resent": 0}
    with session_scope() as session:
        stale = jobs.stale_running(session, before=before, limit=LIMIT)
    for job_id in stale:
        if _has_segments(job_id):
            counts["segments_resent"] += bool(send_pending(job_id))
            with session_scope() as session:
                jobs.heartbeat(session, [job_id])  # looked after: the next look is a timeout away
            continue
        with session_scope() as session:
            moved = jobs.give_back(session, job_id, before=before)
            if moved is None:
                continue
            if moved.status == jobs.JobStatus.QUEUED:
                enqueue_jobs([job_id], moved.priority)
                counts["given_back"] += 1
            else:
                announce(session, [moved])
                counts["worker_lost"] += 1
    return counts


def _has_segments(job_id: str) -> bool:
    with session_scope() as session:
        return bool(session.scalar(select(exists().where(VideoSegment.job_id == job_id))))


def resend_lost(settings: Settings) -> int:
    """Queued jobs sent longer than the grace period ago that no message carries any more: sent again."""
    with session_scope() as session:
        waiting = jobs.waiting_queued(session, sent_before=now() - timedelta(seconds=settings.resend_grace_s),
                                      limit=LIMIT)
    if not waiting:
        return 0
    carried = carried_job_ids(settings)
    lost = [(job_id, priority) for job_id, priority in waiting if job_id not in carried]
    if not lost:
        return 0
    with session_scope() as session:
        for priority in {priority for _, priority in lost}:
            enqueue_jobs([job_id for job_id, p in lost if p == priority], priority)
        jobs.mark_dispatched(session, [job_id for job_id, _ in lost])
    log.warning("sent %d queued jobs again: no message carried them", len(lost))
    return len(lost)


def carried_job_ids(settings: Settings) -> set[str]:
    """Jobs some live message carries: waiting at the consuming end of a queue, or held by a worker (unacked)
    for less than the grace period (longer, and its worker is taken for dead: a second message is harmless)."""
    if settings.embedded:
        files = (settings.broker_dir / "queue").glob("*.msg")
        return {job_id for path in files for job_id in message_job_ids(path.read_bytes())}
    from workers.celery_app import _redis

    client = _redis(settings.redis_url)
    raw = [message for queue in QUEUES for message in client.lrange(queue, -QUEUE_WINDOW, -1)]
    fresh_after = time.time() - settings.resend_grace_s
    held = [tag for tag, since in client.zrange("unacked_index", 0, -1, withscores=True) if since > fresh_after]
    raw += [entry for entry in (client.hmget("unacked", held) if held else []) if entry]
    return {job_id for message in raw for job_id in message_job_ids(message)}


def message_job_ids(raw: bytes) -> list[str]:
    """The job IDs a kombu message (as Redis or the file broker stores it) carries; [] for other tasks."""
    try:
        message = json.loads(raw)
        if isinstance(message, list):  # an unacked entry: [message, exchange, routing key]
            message = message[0]
        task = message["headers"]["task"]
        if task not in (PROCESS_JOB, PROCESS_JOBS):
            return []
        args = json.loads(base64.b64decode(message["body"]))[0]
    except (ValueError, KeyError, IndexError, TypeError):
        return []
    return [args[0]] if task == PROCESS_JOB else list(args[0])
