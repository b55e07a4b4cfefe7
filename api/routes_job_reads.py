"""Reading jobs beyond one by ID: ``GET /v1/jobs`` (the list) and a job's stored media (for the page)."""

from __future__ import annotations

import tempfile
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
from core import joblist, tenancy
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


@router.get("/{job_id}/media", summary="The job's stored upload, as it was sent",
            responses={200: {"content": {"application/octet-stream": {}}}})
def job_media(job_id: str, session: SessionDep, store: BlobStoreDep, settings: SettingsDep,
              caller: JobsCaller) -> FileResponse:
    """404 ``media_gone`` once the media was deleted (``retain_media=false``, retention) or never stored
    (URL and S3 jobs keep no copy)."""
    job = tenancy.owned(session, Job, job_id, caller)
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id}")
    if not job.blob_key:
        raise ApiError(404, "media_gone", "this job's media is not stored (deleted, or fetched from its source)")
    tmp_dir = settings.data_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkstemp(dir=tmp_dir, prefix="media-")[1])
    try:
        store.download_to(job.blob_key, path)
    except BlobNotFound as exc:
        path.unlink(missing_ok=True)
        raise ApiError(404, "media_gone", "this job's media is no longer stored") from exc
    # The copy is removed once sent; the media type is the one sniffed at upload, never the client's.
    return FileResponse(path, media_type=job.media_type or "application/octet-stream",
                        headers={"Cache-Control": "private, max-age=300"},
                        background=BackgroundTask(path.unlink, missing_ok=True))
