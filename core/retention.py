"""Retention: how long a finished job keeps its media and result. Nothing else deletes them on a schedule.

A finished job is ``kept`` until ``DEEPFAKE_RETENTION_DAYS`` after it ended, then ``purged`` (terminal):

    kept ──purge (beat, past the retention period)──▶ purged

Purging deletes the stored media first, then in one transaction clears the result, the hash, the file
name and the source URI and sets ``purged_at``: a purged job still answers with its status, error code
and timestamps. A crash between the two leaves the job kept with its media gone; the next pass purges
it (deleting a missing blob is harmless). A job submitted with ``retain_media: false`` loses its stored
upload as soon as it ends (``drop_media``), its result staying until the retention period.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import heatmaps
from core.blobs import BlobStore
from core.clock import now
from core.status import TERMINAL
from core.tables import Job

log = logging.getLogger(__name__)
CHUNK = 200


def _delete_blob(store: BlobStore, key: str) -> None:
    try:
        store.delete(key)
    except Exception:  # the blob may be gone already; a store error is retried on the next pass
        log.exception("could not delete blob %s", key)
        raise


def purge(session: Session, store: BlobStore, job_ids: list[str]) -> int:
    """kept → purged for these jobs (skipping any another pass holds, or already purged), one transaction.
    Returns how many were purged."""
    query = (select(Job).where(Job.id.in_(job_ids), Job.purged_at.is_(None)).order_by(Job.id)
             .with_for_update(skip_locked=True))
    found = list(session.execute(query).scalars())
    for job in found:
        if job.blob_key:
            _delete_blob(store, job.blob_key)  # media first: a result without media is the safe half
        for key in heatmaps.stored_keys(job.id, job.result):  # pictures of the faces: media too
            _delete_blob(store, key)
    for job in found:
        job.result = job.sha256 = job.filename = job.source_uri = job.blob_key = job.model_key = None
        job.purged_at = job.updated_at = now()
    session.commit()
    return len(found)


def expired(session: Session, *, ended_before: datetime, limit: int = CHUNK) -> list[str]:
    """IDs of finished, unpurged jobs that ended before ``ended_before``, oldest first."""
    query = (select(Job.id).where(Job.status.in_([s.value for s in TERMINAL]), Job.purged_at.is_(None),
                                  Job.finished_at < ended_before).order_by(Job.finished_at).limit(limit))
    return list(session.execute(query).scalars())


def purge_expired(session: Session, store: BlobStore, retention_days: float) -> int:
    """Purge every job past the retention period, ``CHUNK`` per transaction. Returns how many."""
    if retention_days <= 0:
        return 0
    cutoff, purged = now() - timedelta(days=retention_days), 0
    while ids := expired(session, ended_before=cutoff):
        done = purge(session, store, ids)
        purged += done
        if done == 0:  # every one is held by another pass: leave them to it
            break
    return purged


def drop_media(session: Session, store: BlobStore, job_ids: list[str]) -> int:
    """Delete the stored uploads of finished jobs submitted with ``retain_media: false`` (one transaction).
    Returns how many were deleted."""
    query = select(Job).where(Job.id.in_(job_ids), Job.retain_media.is_(False), Job.blob_key.is_not(None),
                              Job.status.in_([s.value for s in TERMINAL])).with_for_update(skip_locked=True)
    found = list(session.execute(query).scalars())
    for job in found:
        _delete_blob(store, job.blob_key)
        job.blob_key, job.updated_at = None, now()
    session.commit()
    return len(found)
