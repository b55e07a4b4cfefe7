"""Reading jobs beyond one by ID: ``GET /v1/jobs`` (the list), and the pictures a job keeps (its media, its
thumbnail, its faces' heatmaps, a video's decisive frames) for the page. A picture is served from where the
job's result links it: for a reused result, the pictures of the job that analysed the same bytes."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from api.auth import JobsCaller
from api.deps import BlobStoreDep, SessionDep, SettingsDep
from api.errors import ApiError
from api.schemas import JobPage, JobSummary
from core import heatmaps, joblist, tenancy
from core.blobs import BlobNotFound
from core.tables import Job

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("", response_model=JobPage, summary="List jobs, newest first")
def list_jobs(session: SessionDep, caller: JobsCaller,
              status: str | None = None, verdict: str | None = None,
              created_after: datetime | None = None, created_before: datetime | None = None,
              batch_id: str | None = None, cursor: str | None = None,
              limit: int = Query(50, ge=1, le=joblist.MAX_LIMIT)) -> JobPage:
    """The caller's tenant's jobs (an admin key: every tenant's). ``verdict`` is one of ``fake``, ``real``,
    ``uncertain``, ``no_face``; ``next_cursor`` (also ``links.next``) fetches the following page."""
    filters = joblist.Filters(status=status, verdict=verdict, created_after=created_after,
                              created_before=created_before, batch_id=batch_id)
    try:
        page = joblist.list_jobs(session, caller, filters, cursor=cursor, limit=limit)
    except joblist.BadListRequest as exc:
        raise ApiError(422, "invalid_request", str(exc)) from exc
    links = {"self": "/v1/jobs"}
    if page.next_cursor:
        given = {k: v for k, v in {"status": status, "verdict": verdict, "batch_id": batch_id,
                                  "created_after": created_after and created_after.isoformat(),
                                  "created_before": created_before and created_before.isoformat()}.items() if v}
        links["next"] = "/v1/jobs?" + urlencode({**given, "limit": limit, "cursor": page.next_cursor})
    return JobPage(items=[JobSummary.from_job(job) for job in page.jobs], next_cursor=page.next_cursor, links=links)


def owned_job(session, job_id: str, caller) -> Job:
    job = tenancy.owned(session, Job, job_id, caller)
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id}")
    return job


def send_blob(store, key: str, media_type: str, settings, gone: str) -> FileResponse:
    """The stored object, through a temporary copy removed once sent; 404 ``media_gone`` when absent."""
    tmp_dir = settings.data_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkstemp(dir=tmp_dir, prefix="blob-")[1])
    try:
        store.download_to(key, path)
    except BlobNotFound as exc:
        path.unlink(missing_ok=True)
        raise ApiError(404, "media_gone", gone) from exc
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private, max-age=300"},
                        background=BackgroundTask(path.unlink, missing_ok=True))


@router.get("/{job_id}/media", summary="The job's stored upload, as it was sent",
            responses={200: {"content": {"application/octet-stream": {}}}})
def job_media(job_id: str, session: SessionDep, store: BlobStoreDep, settings: SettingsDep,
              caller: JobsCaller) -> FileResponse:
    """404 ``media_gone`` once the media was deleted (``retain_media=false``, retention) or never stored
    (URL and S3 jobs keep no copy). The media type is the one sniffed at upload, never the client's."""
    job = owned_job(session, job_id, caller)
    if not job.blob_key:
        raise ApiError(404, "media_gone", "this job's media is not stored (deleted, or fetched from its source)")
    return send_blob(store, job.blob_key, job.media_type or "application/octet-stream", settings,
                      "this job's media is no longer stored")


@router.get("/{job_id}/faces/{face}/heatmap.png", summary="A face's Grad-CAM heatmap (jobs with explain)",
            responses={200: {"content": {"image/png": {}}}})
def face_heatmap(job_id: str, face: int, session: SessionDep, store: BlobStoreDep, settings: SettingsDep,
                 caller: JobsCaller) -> FileResponse:
    """An RGBA PNG to stretch over ``faces[face].heatmap.region`` of the image; 404 when that face has none."""
    return _send_picture(session, store, settings, caller, job_id, lambda r: _heatmap_link(r, face),
                         "image/png", f"heatmap for face {face}")


def _face(result: dict, face: int) -> dict:
    faces = result.get("faces") or []
    return faces[face] if 0 <= face < len(faces) else {}


def _heatmap_link(result: dict, face: int) -> str | None:
    return (_face(result, face).get("heatmap") or {}).get("url")


def _frame_link(result: dict, face: int, rank: int) -> str | None:
    frames = _face(result, face).get("frames") or []
    return frames[rank].get("url") if 0 <= rank < len(frames) else None


def _send_picture(session, store, settings, caller, job_id: str, link: Callable[[dict], str | None],
                  media_type: str, what: str) -> FileResponse:
    """The picture ``job_id``'s result links at ``link``, to the job's owner; 404 when it links none.

    A reused result links the pictures of the job that analysed the media (``core.heatmaps``): that job is
    of the same tenant (dedup never crosses tenants), which is checked again here before anything is read."""
    job = owned_job(session, job_id, caller)
    url = link(job.result or {})
    picture = heatmaps.picture_at(url) if url else None
    if picture is None:
        raise ApiError(404, "not_found", f"job {job_id} has no {what}")
    if picture.job_id != job.id and tenancy.owned(session, Job, picture.job_id, caller) is None:
        raise ApiError(404, "media_gone", f"this {what} is no longer stored")
    return send_blob(store, picture.key, media_type, settings, f"this {what} is no longer stored")


@router.get("/{job_id}/thumbnail.jpg", summary="A small picture of the job's media, for lists",
            responses={200: {"content": {"image/jpeg": {}}}})
def job_thumbnail(job_id: str, session: SessionDep, store: BlobStoreDep, settings: SettingsDep,
                  caller: JobsCaller) -> FileResponse:
    """A JPEG whose longer side is at most 160 px: the photo, or a video's highest-scoring face's frame.
    404 when the job has none (not finished, failed, ``retain_media=false``, or a batch item)."""
    return _send_picture(session, store, settings, caller, job_id, lambda r: r.get("thumbnail"), "image/jpeg",
                         "thumbnail")


@router.get("/{job_id}/faces/{face}/frames/{rank}.jpg", summary="One of the frames that decided a video",
            responses={200: {"content": {"image/jpeg": {}}}})
def face_frame(job_id: str, face: int, rank: int, session: SessionDep, store: BlobStoreDep,
               settings: SettingsDep, caller: JobsCaller) -> FileResponse:
    """The square face crop the model saw on ``faces[face].frames[rank]`` (rank 0: that person's
    highest-scoring sampled frame), at most 192 px across; 404 when the result lists no such frame."""
    return _send_picture(session, store, settings, caller, job_id, lambda r: _frame_link(r, face, rank),
                         "image/jpeg", f"frame {rank} for face {face}")
