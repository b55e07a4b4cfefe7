"""Ending a job: its terminal transition and the webhooks it triggers."""

from __future__ import annotations

import logging

from core import jobs, metrics, retention, webhooks
from core.blobs import default_blob_store
from core.db import session_scope
from workers.pictures import remove_pictures
from workers.webhooks import enqueue_deliveries

log = logging.getLogger(__name__)


def finish(job_id: str, result: dict | None = None, error: tuple[str, str] | None = None,
           session=None, reused_from: str | None = None) -> str | None:
    """Move the job to its terminal state (in ``session`` if given) and send its webhooks."""
    if session is None:
        with session_scope() as own:
            return finish(job_id, result, error, own, reused_from)
    if error:
        moved = jobs.fail(session, job_id, *error)
    else:
        moved = jobs.succeed(session, job_id, {"reused": False, **result}, reused_from=reused_from)
    if moved is not None:
        announce(session, [moved])
        return moved.status
    log.info("job %s already finished or deleted; this run's outcome is dropped", job_id)
    current = jobs.get_job(session, job_id)
    if result is not None and _gone(session, [job_id]):
        # Deleted (or purged) while this run analysed it: the pictures it stored would outlive the job.
        # A job finished by another run keeps them: that run's result links the same keys.
        remove_pictures(job_id, result)
    return current.status if current else None


def announce(session, finished: list) -> None:
    """After jobs reached a terminal state (committed): send their webhooks, drop media not retained."""
    metrics.record_finished(finished)
    enqueue_deliveries(webhooks.unsent_deliveries(session, [job.id for job in finished]))
    _drop_unretained(session, finished)


def _drop_unretained(session, finished: list) -> None:
    """Uploads submitted with ``retain_media: false`` lose their media now (no query when there are none)."""
    ids = [job.id for job in finished if not job.retain_media and job.blob_key]
    if ids:
        retention.drop_media(session, default_blob_store(), ids)


def finish_group(outcomes: list[jobs.Outcome]) -> None:
    """End a group of jobs in one transaction, then send their webhooks."""
    if not outcomes:
        return
    with session_scope() as session:
        finished = jobs.finish_many(session, outcomes)
        _drop_unretained(session, finished.jobs)
        moved = {job.id for job in finished.jobs}
        dropped = [outcome for outcome in outcomes if outcome.job_id not in moved]
        gone = _gone(session, [outcome.job_id for outcome in dropped if outcome.result])
    metrics.record_finished(finished.jobs)
    if dropped:
        log.info("%d job(s) of the group already finished or deleted; their outcomes are dropped", len(dropped))
    for outcome in dropped:
        if outcome.job_id in gone:  # deleted meanwhile (its batch, say): what this run stored goes too
            remove_pictures(outcome.job_id, outcome.result)
    if finished.deliveries:
        enqueue_deliveries(finished.deliveries)


def _gone(session, job_ids: list[str]) -> set[str]:
    """Those of ``job_ids`` deleted or purged: their pictures would outlive them."""
    kept = {job.id for job_id in job_ids if (job := jobs.get_job(session, job_id)) and job.purged_at is None}
    return set(job_ids) - kept
