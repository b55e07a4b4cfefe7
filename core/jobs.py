"""Job state: the status enum and every transition. Nothing else writes ``jobs.status``.

Lifecycle (also in README "Job lifecycle"):

    queued ──start──▶ running ──succeed──▶ succeeded
      │                 │  ▲
      │                 │  ├─start (redelivered after a lost worker; attempts + 1)
      │                 │  └─give_back (its worker stopped heartbeating) ──▶ queued
      │                 └──fail──▶ failed (worker_lost too: given back max_attempts times)
      ├──succeed (same bytes, same model: the stored result is reused)──▶ succeeded
      ├──fail (the source could not be read)──▶ failed
      └──cancel (its batch was cancelled)──▶ canceled

``succeeded``, ``failed`` and ``canceled`` are terminal: a transition from them is refused
and reported as "no change", which makes every task safe to run twice. A running job names the worker
process that runs it (``worker``) and carries that process's heartbeat (``heartbeat_at``): a second
message for it is refused while that process lives, so a job sent twice never runs twice at once.
Each transition locks the row, writes status, data and timestamps, and
commits once. Bulk items start and finish in groups (``start_group``,
``finish_many``): one transaction per group, the same rules for each job.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core import batches, processes, webhooks
from core.clock import now
from core.settings import get_settings
from core.status import TERMINAL, JobStatus
from core.tables import Job

__all__ = ["TERMINAL", "JobStatus"]


ALLOWED = {
    # queued → succeeded: media already analysed by this model version gets the stored result at once.
    JobStatus.QUEUED: {JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED},
    # running → queued: given back by the recovery loop when its worker stopped heartbeating.
    JobStatus.RUNNING: {JobStatus.RUNNING, JobStatus.QUEUED, JobStatus.SUCCEEDED, JobStatus.FAILED},
    JobStatus.SUCCEEDED: set(),
    JobStatus.FAILED: set(),
    JobStatus.CANCELED: set(),
}


def new_job_id() -> str:
    return str(uuid.uuid4())


def create_job(session: Session, *, source_kind: str, job_id: str | None = None, dispatched: bool = True,
               **fields) -> Job:
    """Insert a queued job; the caller commits and then enqueues it, or, with ``dispatched=False``,
    leaves it to the dispatcher (``undispatched``)."""
    job = Job(id=job_id or new_job_id(), status=JobStatus.QUEUED, progress=0.0, attempts=0,
              source_kind=source_kind, created_at=now(), updated_at=now(),
              dispatched_at=now() if dispatched else None, **fields)
    session.add(job)
    return job


def get_job(session: Session, job_id: str) -> Job | None:
    return session.get(Job, job_id)


def undispatched(session: Session, *, limit: int, batch_id: str | None = None,
                 created_before: datetime | None = None) -> list[tuple[str, str]]:
    """Queued batch items no message has carried yet, oldest first, as (job ID, priority), locked.

    The caller sends them and then ``mark_dispatched`` in this same transaction: a crash in
    between leaves them here to be sent again (at least once; a second message finds them started).
    Rows another dispatcher holds are skipped, not waited for.
    """
    query = select(Job.id, Job.priority).where(Job.dispatched_at.is_(None), Job.status == JobStatus.QUEUED)
    if batch_id is not None:
        query = query.where(Job.batch_id == batch_id)
    if created_before is not None:
        query = query.where(Job.created_at < created_before)
    query = query.order_by(Job.created_at).limit(limit).with_for_update(skip_locked=True)
    return [(job_id, priority) for job_id, priority in session.execute(query)]


def mark_dispatched(session: Session, job_ids: list[str]) -> None:
    session.execute(update(Job).where(Job.id.in_(job_ids)).values(dispatched_at=now()))


def lock_job(session: Session, job_id: str) -> Job | None:
    # FOR UPDATE serialises two deliveries of the same job on Postgres; SQLite
    # ignores it but allows a single writer anyway.
    return session.execute(select(Job).where(Job.id == job_id).with_for_update()).scalar_one_or_none()


def lock_jobs(session: Session, job_ids: list[str]) -> list[Job]:
    # Always locked in ID order, so two transactions over overlapping groups cannot deadlock.
    query = select(Job).where(Job.id.in_(job_ids)).order_by(Job.id).with_for_update()
    return list(session.execute(query).scalars())


def _apply(session: Session, job: Job, to: JobStatus, endpoints=None, outbox: list | None = None, **fields) -> bool:
    """One transition on a locked job, not committed; False when the move is not allowed.

    The webhook deliveries it adds are appended to ``outbox`` when one is given."""
    if to not in ALLOWED[JobStatus(job.status)]:
        return False
    job.status = to
    job.updated_at = now()
    for name, value in fields.items():
        setattr(job, name, value)
    if to in TERMINAL:
        # The outbox: webhook deliveries commit together with the final state, or not at all.
        added = webhooks.add_job_events(session, job, get_settings().public_url, endpoints)
        if outbox is not None:
            outbox.extend(added)
    return True


def _complete_batches(session: Session, finished: list[Job]) -> None:
    session.flush()
    for batch_id in sorted({job.batch_id for job in finished if job.batch_id}):
        batches.complete_if_done(session, batch_id)


def _move(session: Session, job_id: str, to: JobStatus, **fields) -> Job | None:
    """Apply one transition and commit; None when the job is gone or the move is not allowed."""
    job = lock_job(session, job_id)
    if job is None or not _apply(session, job, to, **fields):
        session.rollback()
        return None
    if to in TERMINAL:
        _complete_batches(session, [job])
    session.commit()
    return job


def _start_fields(job: Job, worker: str) -> dict:
    # The same process starting its job again (a retry after a database outage) is not a new attempt.
    again = job.status == JobStatus.RUNNING and job.worker == worker
    return {"attempts": job.attempts + (0 if again else 1), "started_at": job.started_at or now(),
            "worker": worker, "heartbeat_at": now()}


def held_elsewhere(job: Job, worker: str) -> bool:
    """True while another live worker process runs ``job``: on this host, its process exists; on another,
    its heartbeat is younger than ``DEEPFAKE_HEARTBEAT_TIMEOUT_S``."""
    if job.status != JobStatus.RUNNING or job.worker == worker:
        return False
    alive = processes.alive(job.worker)
    if alive is not None:
        return alive
    beat = job.heartbeat_at or job.updated_at
    return beat is not None and beat > now() - timedelta(seconds=get_settings().heartbeat_timeout_s)


def start(session: Session, job_id: str, *, worker: str) -> Job | None:
    """queued|running → running in ``worker`` (a ``core.processes`` ID), counting the attempt.
    None if the job is finished, gone, or running in another live worker process (which will finish it)."""
    job = lock_job(session, job_id)
    if job is None or JobStatus(job.status) in TERMINAL or held_elsewhere(job, worker):
        session.rollback()
        return None
    return _move(session, job_id, JobStatus.RUNNING, **_start_fields(job, worker))


def start_group(session: Session, job_ids: list[str], *, worker: str) -> list[Job] | None:
    """``start`` for a group of jobs in one transaction; returns those started, in ``job_ids`` order.

    None, with nothing changed, when one of them is running already: the group is being delivered again
    (its worker died) and the caller runs its jobs one by one. Finished jobs are skipped.
    """
    locked = lock_jobs(session, job_ids)
    if any(job.status == JobStatus.RUNNING for job in locked):
        session.rollback()
        return None
    started = {job.id: job for job in locked if job.status == JobStatus.QUEUED
               and _apply(session, job, JobStatus.RUNNING, **_start_fields(job, worker))}
    session.commit()
    return [started[job_id] for job_id in job_ids if job_id in started]


def heartbeat(session: Session, job_ids: list[str]) -> None:
    """The running jobs among ``job_ids`` are still being worked on (not a transition: one column)."""
    session.execute(update(Job).where(Job.id.in_(job_ids), Job.status == JobStatus.RUNNING)
                    .values(heartbeat_at=now()))
    session.commit()


def stale_running(session: Session, *, before: datetime, limit: int) -> list[str]:
    """Running jobs whose last heartbeat (or, for rows from before heartbeats, last change) is older than
    ``before``, oldest first."""
    beat = func.coalesce(Job.heartbeat_at, Job.updated_at)
    query = select(Job.id).where(Job.status == JobStatus.RUNNING, beat < before).order_by(beat).limit(limit)
    return list(session.execute(query).scalars())


def give_back(session: Session, job_id: str, *, before: datetime) -> Job | None:
    """A running job whose worker is gone: back to ``queued`` to be sent again, or ``failed`` with
    ``worker_lost`` once it has had ``DEEPFAKE_MAX_ATTEMPTS`` attempts. None when it moved on meanwhile
    (it finished, or a heartbeat came after ``before``)."""
    job = lock_job(session, job_id)
    if job is None or job.status != JobStatus.RUNNING or (job.heartbeat_at or job.updated_at) >= before:
        session.rollback()
        return None
    if job.attempts >= get_settings().max_attempts:
        return fail(session, job_id, "worker_lost", f"its worker stopped during each of {job.attempts} attempts")
    return _move(session, job_id, JobStatus.QUEUED, worker=None, heartbeat_at=None, dispatched_at=now(),
                 progress=0.0)


def waiting_queued(session: Session, *, sent_before: datetime, limit: int) -> list[tuple[str, str]]:
    """Queued jobs whose message was sent before ``sent_before``, oldest first, as (job ID, priority)."""
    query = (select(Job.id, Job.priority).where(Job.status == JobStatus.QUEUED, Job.dispatched_at < sent_before)
             .order_by(Job.dispatched_at).limit(limit))
    return [(job_id, priority) for job_id, priority in session.execute(query)]


def count_by_status(session: Session) -> dict[tuple[str, str], int]:
    """Jobs of every tenant by (status, priority): what ``GET /metrics`` reports. One scan of the table."""
    query = select(Job.status, Job.priority, func.count()).group_by(Job.status, Job.priority)
    return {(status, priority): count for status, priority, count in session.execute(query)}


def set_progress(session: Session, job_id: str, progress: float) -> None:
    """Progress of a running job, 0-1; it never moves backwards."""
    job = lock_job(session, job_id)
    if job is not None and job.status == JobStatus.RUNNING and progress > job.progress:
        job.progress = min(progress, 1.0)
        job.updated_at = now()
    session.commit()


def note_media_type(session: Session, job_id: str, media_type: str) -> None:
    """A URL or S3 job learns its media type once the worker has fetched and sniffed it (an upload's is
    known at submission and kept)."""
    session.execute(update(Job).where(Job.id == job_id, Job.media_type.is_(None)).values(media_type=media_type))
    session.commit()


def model_key(name: str, version: str) -> str:
    return f"{name}:{version}"


def _success_fields(job: Job, result: dict, reused_from: str | None) -> dict:
    """URL and S3 jobs learn their hash, size and (an image's) media type here, from the media the worker read."""
    model = result.get("model") or {}
    read = result.get("media") or {}
    media = {"sha256": result.get("sha256"), "size_bytes": read.get("size_bytes"), "media_type": read.get("mime")}
    known = {k: v for k, v in media.items() if v is not None and getattr(job, k) is None}
    return {"result": result, "progress": 1.0, "finished_at": now(), "error_code": None, "error_message": None,
            "reused_from": reused_from, "model_key": model_key(model["name"], model["version"]) if model else None,
            **known}


def _failure_fields(code: str, message: str) -> dict:
    return {"error_code": code, "error_message": message, "finished_at": now()}


def succeed(session: Session, job_id: str, result: dict, reused_from: str | None = None) -> Job | None:
    """Store the result."""
    job = session.get(Job, job_id)
    if job is None:
        return None
    return _move(session, job_id, JobStatus.SUCCEEDED, **_success_fields(job, result, reused_from))


def reused_result(earlier: Job) -> dict:
    """``earlier``'s result for a job of the same tenant with the same bytes, marked as reused. Its picture
    links (thumbnail, frames, heatmaps) are kept as they are: they name the job that made the pictures,
    whose routes answer that tenant, and whose deletion or purge removes them (``core.heatmaps``)."""
    return {**earlier.result, "reused": True, "reused_from": earlier.id}


def reuse_result(session: Session, job: Job, earlier: Job) -> Job | None:
    """Finish ``job`` with ``earlier``'s result, marked as reused (one transaction, outbox included)."""
    session.flush()
    return succeed(session, job.id, reused_result(earlier), reused_from=earlier.id)


def find_reusable(session: Session, *, sha256: str, key: str, exclude_id: str, tenant: str) -> Job | None:
    """A succeeded job of the same tenant that analysed the same bytes with the same model version.

    Never another tenant's: reusing it would tell the caller that somebody else uploaded the same file."""
    query = (select(Job).where(Job.sha256 == sha256, Job.model_key == key, Job.status == JobStatus.SUCCEEDED,
                               Job.tenant == tenant, Job.id != exclude_id).order_by(Job.finished_at).limit(1))
    return session.execute(query).scalar_one_or_none()


def find_reusable_many(session: Session, *, wanted: set[tuple[str, str]], key: str) -> dict[tuple[str, str], Job]:
    """``find_reusable`` for many (tenant, sha256) pairs in one query: the earliest analysis of each hash
    within each tenant, keyed by the pair."""
    if not wanted:
        return {}
    # Only analyses, not their reuses: a file repeated a million times still matches one or two rows.
    query = (select(Job).where(Job.sha256.in_({sha for _, sha in wanted}), Job.model_key == key,
                               Job.tenant.in_({tenant for tenant, _ in wanted}),
                               Job.status == JobStatus.SUCCEEDED, Job.reused_from.is_(None))
             .order_by(Job.finished_at.desc()))
    found = {(job.tenant, job.sha256): job for job in session.execute(query).scalars()}  # the earliest last
    return {pair: job for pair, job in found.items() if pair in wanted}


def fail(session: Session, job_id: str, code: str, message: str) -> Job | None:
    return _move(session, job_id, JobStatus.FAILED, **_failure_fields(code, message))


@dataclass(frozen=True)
class Outcome:
    """How one job of a group ended: a result, or an error (code, message)."""

    job_id: str
    result: dict | None = None
    error: tuple[str, str] | None = None
    reused_from: str | None = None


@dataclass(frozen=True)
class Finished:
    """What one ``finish_many`` changed: the jobs that moved, and the webhook deliveries it queued for them."""

    jobs: list[Job]
    deliveries: list[str]


def finish_many(session: Session, outcomes: list[Outcome]) -> Finished:
    """``succeed``/``fail`` for a group of jobs in one transaction (outbox and batch completion included).

    A job already finished (by an earlier run) is left as it is.
    """
    by_id = {outcome.job_id: outcome for outcome in outcomes}
    endpoints = webhooks.enabled_endpoints(session)
    moved, outbox = [], []
    for job in lock_jobs(session, list(by_id)):
        outcome = by_id[job.id]
        if outcome.error:
            ok = _apply(session, job, JobStatus.FAILED, endpoints, outbox, **_failure_fields(*outcome.error))
        else:
            fields = _success_fields(job, outcome.result, outcome.reused_from)
            ok = _apply(session, job, JobStatus.SUCCEEDED, endpoints, outbox, **fields)
        if ok:
            moved.append(job)
    _complete_batches(session, moved)
    session.commit()
    # The jobs' own deliveries, known without a query (a batch's completion event is left to the dispatcher).
    return Finished(moved, [delivery.id for delivery in outbox])


def delete(session: Session, job_id: str) -> Job | None:
    """Remove the job row; the caller deletes its blob. Returns the deleted job."""
    job = lock_job(session, job_id)
    if job is None:
        session.rollback()
        return None
    session.delete(job)
    session.commit()
    return job
