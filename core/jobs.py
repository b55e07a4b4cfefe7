"""Job state: the status enum and every transition. Nothing else writes ``jobs.status``.

Lifecycle (also in README "Job lifecycle"):

    queued ──start──▶ running ──succeed──▶ succeeded
      │                 │  ▲
      │                 │  └─start (redelivered after a lost worker; attempts + 1)
      │                 └──fail──▶ failed
      ├──succeed (same bytes, same model: the stored result is reused)──▶ succeeded
      ├──fail (the source could not be read)──▶ failed
      └──cancel (its batch was cancelled)──▶ canceled

``succeeded``, ``failed`` and ``canceled`` are terminal: a transition from them is refused
and reported as "no change", which makes every task safe to run twice.
Each transition locks the row, writes status, data and timestamps, and
commits once.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import batches, webhooks
from core.clock import now
from core.settings import get_settings
from core.status import TERMINAL, JobStatus
from core.tables import Job

__all__ = ["TERMINAL", "JobStatus"]


ALLOWED = {
    # queued → succeeded: media already analysed by this model version gets the stored result at once.
    JobStatus.QUEUED: {JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED},
    JobStatus.RUNNING: {JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.FAILED},
    JobStatus.SUCCEEDED: set(),
    JobStatus.FAILED: set(),
    JobStatus.CANCELED: set(),
}


def new_job_id() -> str:
    return str(uuid.uuid4())


def create_job(session: Session, *, source_kind: str, job_id: str | None = None, **fields) -> Job:
    """Insert a queued job; the caller commits (and enqueues after the commit)."""
    job = Job(id=job_id or new_job_id(), status=JobStatus.QUEUED, progress=0.0, attempts=0,
              source_kind=source_kind, created_at=now(), updated_at=now(), **fields)
    session.add(job)
    return job


def get_job(session: Session, job_id: str) -> Job | None:
    return session.get(Job, job_id)


def lock_job(session: Session, job_id: str) -> Job | None:
    # FOR UPDATE serialises two deliveries of the same job on Postgres; SQLite
    # ignores it but allows a single writer anyway.
    return session.execute(select(Job).where(Job.id == job_id).with_for_update()).scalar_one_or_none()


def _move(session: Session, job_id: str, to: JobStatus, **fields) -> Job | None:
    """Apply one transition and commit; None when the job is gone or the move is not allowed."""
    job = lock_job(session, job_id)
    if job is None or to not in ALLOWED[JobStatus(job.status)]:
        session.rollback()
        return None
    job.status = to
    job.updated_at = now()
    for name, value in fields.items():
        setattr(job, name, value)
    if to in TERMINAL:
        # The outbox: webhook deliveries commit together with the final state, or not at all.
        webhooks.add_job_events(session, job, get_settings().public_url)
        if job.batch_id:
            session.flush()
            batches.complete_if_done(session, job.batch_id)
    session.commit()
    return job


def start(session: Session, job_id: str) -> Job | None:
    """queued|running → running, counting the attempt. None if the job is finished or gone."""
    job = lock_job(session, job_id)
    if job is None or JobStatus(job.status) in TERMINAL:
        session.rollback()
        return None
    return _move(session, job_id, JobStatus.RUNNING, attempts=job.attempts + 1, started_at=job.started_at or now())


def set_progress(session: Session, job_id: str, progress: float) -> None:
    """Progress of a running job, 0-1; it never moves backwards."""
    job = lock_job(session, job_id)
    if job is not None and job.status == JobStatus.RUNNING and progress > job.progress:
        job.progress = min(progress, 1.0)
        job.updated_at = now()
    session.commit()


def model_key(name: str, version: str) -> str:
    return f"{name}:{version}"


def succeed(session: Session, job_id: str, result: dict, reused_from: str | None = None) -> Job | None:
    """Store the result. URL and S3 jobs learn their hash and size here, from the media the worker read."""
    model = result.get("model") or {}
    media = {"sha256": result.get("sha256"), "size_bytes": (result.get("media") or {}).get("size_bytes")}
    job = session.get(Job, job_id)
    known = {k: v for k, v in media.items() if v is not None and job is not None and getattr(job, k) is None}
    return _move(session, job_id, JobStatus.SUCCEEDED, result=result, progress=1.0, finished_at=now(),
                 error_code=None, error_message=None, reused_from=reused_from,
                 model_key=model_key(model["name"], model["version"]) if model else None, **known)


def reused_result(earlier: Job) -> dict:
    return {**earlier.result, "reused": True, "reused_from": earlier.id}


def reuse_result(session: Session, job: Job, earlier: Job) -> Job | None:
    """Finish ``job`` with ``earlier``'s result, marked as reused (one transaction, outbox included)."""
    session.flush()
    return succeed(session, job.id, reused_result(earlier), reused_from=earlier.id)


def find_reusable(session: Session, *, sha256: str, key: str, exclude_id: str) -> Job | None:
    """A succeeded job that analysed the same bytes with the same model version."""
    query = (select(Job).where(Job.sha256 == sha256, Job.model_key == key, Job.status == JobStatus.SUCCEEDED,
                               Job.id != exclude_id).order_by(Job.finished_at).limit(1))
    return session.execute(query).scalar_one_or_none()


def fail(session: Session, job_id: str, code: str, message: str) -> Job | None:
    return _move(session, job_id, JobStatus.FAILED, error_code=code, error_message=message,
                 finished_at=now())


def delete(session: Session, job_id: str) -> Job | None:
    """Remove the job row; the caller deletes its blob. Returns the deleted job."""
    job = lock_job(session, job_id)
    if job is None:
        session.rollback()
        return None
    session.delete(job)
    session.commit()
    return job
