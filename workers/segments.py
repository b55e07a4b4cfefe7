"""Long videos in parallel: split into time segments, one task each, merged when the last one is done.

Coordination lives in the database, not in a Celery chord: each segment
stores its part; whichever segment task finds every part stored (under the
job's row lock) merges them and finishes the job. A segment that raises is
retried ``DEEPFAKE_SEGMENT_RETRIES`` times, then fails the whole job with
``segment_failed``, so a job never hangs on a lost part.
"""

from __future__ import annotations

import logging
from pathlib import Path

from celery import Task
from sqlalchemy import select

from core import db, jobs
from core.analysis import limits, video_limits
from core.clock import now
from core.db import session_scope
from core.settings import Settings, get_settings
from core.tables import VideoSegment
from pipeline import MediaError, probe_video, sample_frames, sniff
from pipeline.sniff import SNIFF_BYTES
from pipeline.video_analysis import analyze_part, media_facts, plan_segments, video_result
from workers import heartbeat, runtime
from workers.celery_app import INTERACTIVE_QUEUE, PROCESS_SEGMENT, app
from workers.media import local_media
from workers.outcome import finish
from workers.retry import retry_on_database_error

log = logging.getLogger(__name__)
SEGMENT_FAILED = "segment_failed"


def plan_if_long(path: Path, settings: Settings) -> tuple[dict, list[list[int]]] | None:
    """Media facts and segment frame lists for a video longer than the split threshold; else None."""
    with open(path, "rb") as f:
        media_type = sniff(f.read(SNIFF_BYTES))
    if media_type is None or media_type.kind != "video":
        return None
    vlimits = video_limits(settings)
    info = probe_video(path, vlimits)
    if info.duration_s <= settings.video_split_over_s:
        return None
    indices = sample_frames(info, vlimits)
    return media_facts(path, info, len(indices)), plan_segments(info, indices, settings.video_segment_s)


def fan_out(job_id: str, media: dict, segments: list[list[int]]) -> None:
    """Record the segments (once, even if the job is delivered again) and queue the unfinished ones."""
    with session_scope() as session:
        rows = session.execute(select(VideoSegment).where(VideoSegment.job_id == job_id)).scalars().all()
        if not rows:
            rows = [VideoSegment(job_id=job_id, index=i, frames=frames, media=media, status="pending",
                                 created_at=now()) for i, frames in enumerate(segments)]
            session.add_all(rows)
        pending = [row.index for row in rows if row.status != "done"]
    for index in pending:
        app.send_task(PROCESS_SEGMENT, args=[job_id, index], queue=INTERACTIVE_QUEUE)


@app.task(name=PROCESS_SEGMENT, bind=True)
def process_segment(self: Task, job_id: str, index: int) -> None:
    with retry_on_database_error(self), heartbeat.beating([job_id]):
        _run_segment(self, job_id, index)


def send_pending(job_id: str) -> int:
    """Queue the job's unfinished segments again (the recovery loop, when none of them beats); returns how many."""
    with session_scope() as session:
        pending = session.execute(select(VideoSegment.index).where(VideoSegment.job_id == job_id,
                                                                   VideoSegment.status != "done")).scalars().all()
    for index in pending:
        app.send_task(PROCESS_SEGMENT, args=[job_id, index], queue=INTERACTIVE_QUEUE)
    return len(pending)


def _run_segment(self: Task, job_id: str, index: int) -> None:
    settings = get_settings()
    with session_scope() as session:
        job, segment = jobs.get_job(session, job_id), session.get(VideoSegment, (job_id, index))
        if job is None or segment is None or job.status in jobs.TERMINAL:
            return
        done, fps, frames = segment.status == "done", segment.media["fps"], segment.frames
    if not done:
        try:
            with local_media(job, settings) as path, runtime.inference_lock():
                part = analyze_part(path, fps, frames, runtime.classifier(), limits(settings))
        except MediaError as exc:
            finish(job_id, error=(exc.code, exc.message))
            return
        except Exception as exc:
            if db.unavailable(exc):
                raise  # retried until the database is back, not counted against the segment
            if self.request.retries < settings.segment_retries:
                log.warning("segment %d of job %s failed, retrying: %s", index, job_id, exc)
                raise self.retry(exc=exc, countdown=1) from exc
            log.exception("segment %d of job %s failed for good", index, job_id)
            finish(job_id, error=(SEGMENT_FAILED, f"segment {index} failed {self.request.retries + 1} times"))
            return
        _store_part(job_id, index, part)
    merge_if_complete(job_id)


def _store_part(job_id: str, index: int, part: dict) -> None:
    with session_scope() as session:
        segment = session.get(VideoSegment, (job_id, index))
        segment.part, segment.status, segment.finished_at = part, "done", now()


def merge_if_complete(job_id: str) -> None:
    """Under the job's row lock: record progress, or merge every part and finish the job."""
    with session_scope() as session:
        job = jobs.lock_job(session, job_id)
        if job is None or job.status in jobs.TERMINAL:
            return
        segments = session.execute(select(VideoSegment).where(VideoSegment.job_id == job_id)
                                   .order_by(VideoSegment.index)).scalars().all()
        done = sum(s.status == "done" for s in segments)
        if done < len(segments):
            jobs.set_progress(session, job_id, min(done / len(segments), 0.99))
            return
        result = video_result(segments[0].media, [s.part for s in segments], runtime.classifier().spec)
        finish(job_id, result=result, session=session)
