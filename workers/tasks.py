"""Celery tasks. Each receives a job ID and may run more than once for the same job."""

from __future__ import annotations

import logging

from celery import Task

from core import db, jobs
from core.analysis import analyze
from core.db import session_scope
from core.settings import get_settings
from pipeline import ErrorCode, MediaError, file_sha256, media_type
from workers import heartbeat, runtime, segments
from workers.celery_app import PROCESS_JOB, app
from workers.media import local_media
from workers.outcome import finish
from workers.pictures import add_pictures
from workers.retry import retry_on_database_error

log = logging.getLogger(__name__)


@app.task(name=PROCESS_JOB, bind=True)
def process_job(self: Task, job_id: str) -> None:
    with retry_on_database_error(self):
        run_job(job_id)


def run_job(job_id: str) -> str | None:
    """Run one job to a terminal state; returns that state, or None if there was nothing to do.

    A database outage is raised (the task retries it, ``workers.retry``), never recorded as the job's end."""
    settings = get_settings()
    with session_scope() as session:
        job = jobs.start(session, job_id, worker=heartbeat.worker_id())
        if job is None:
            log.info("job %s is finished, gone or running elsewhere; nothing to do", job_id)
            return None
        if job.attempts > settings.max_attempts:
            # The job killed its worker on every try (out of memory, a decoder crash): stop retrying.
            lost = (ErrorCode.WORKER_LOST, f"the worker died {job.attempts - 1} times on this job")
            return finish(job_id, error=lost, session=session)
    with heartbeat.beating([job_id]):
        try:
            result = (reusable(job, job.sha256) if job.sha256 else None) or _analyze(job, settings)
        except MediaError as exc:
            log.info("job %s failed: %s (%s)", job_id, exc.code, exc.message)
            return finish(job_id, error=(exc.code, exc.message))
        except Exception as exc:
            if db.unavailable(exc):
                raise
            log.exception("job %s crashed", job_id)
            return finish(job_id, error=(ErrorCode.INTERNAL_ERROR, "an internal error stopped this job"))
    if result is None:
        return jobs.JobStatus.RUNNING  # split into segments; the last segment finishes the job
    return finish(job_id, result=result, reused_from=result.get("reused_from"))


def reusable(job, sha256: str) -> dict | None:
    """The stored result of the same bytes under the same model version, marked as reused."""
    if not job.dedup:
        return None
    spec = runtime.classifier().spec
    with session_scope() as session:
        found = jobs.find_reusable(session, sha256=sha256, key=jobs.model_key(spec.name, spec.version),
                                   exclude_id=job.id, tenant=job.tenant)
        return jobs.reused_result(found) if found else None


def _analyze(job, settings) -> dict | None:
    """The job's result, or None when the video was handed out in segments."""
    with local_media(job, settings) as path:
        if job.sha256 is None:  # fetched by the worker: hash it, then it may turn out to be a repeat
            reused = reusable(job, file_sha256(path))
            if reused is not None:
                return reused
        return analyze_local(job, path, settings)


def analyze_local(job, path, settings) -> dict | None:
    """Analyse media already on disk; None when a long video was handed out in segments."""
    if job.media_type is None:  # fetched from a URL or S3: now its type is known
        _note_media_type(job.id, path)
    plan = segments.plan_if_long(path, settings)
    if plan is not None:
        segments.fan_out(job.id, *plan)
        return None
    with runtime.inference_lock():
        result = analyze(path, runtime.classifier(), settings, _progress_writer(job.id))
    return add_pictures(job, path, result, settings)


def _note_media_type(job_id: str, path) -> None:
    try:
        found = media_type(path)
    except MediaError:
        return  # the analysis fails the job with the same error
    with session_scope() as session:
        jobs.note_media_type(session, job_id, found.mime)


def _progress_writer(job_id: str, step: float = 0.05):
    """Record progress as frames are processed, at most every ``step``; 1.0 is left to ``succeed``."""
    last = 0.0

    def write(fraction: float) -> None:
        nonlocal last
        if fraction - last >= step:
            last = fraction
            try:
                with session_scope() as session:
                    jobs.set_progress(session, job_id, min(fraction, 0.99))
            except Exception as exc:  # progress is a courtesy: an outage must not stop the analysis
                if not db.unavailable(exc):
                    raise
                log.warning("job %s: progress not written (database unavailable)", job_id)

    return write
