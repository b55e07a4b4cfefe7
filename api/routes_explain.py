"""Explanations asked for after the analysis: LIME for one face (``workers/lime.py``).

``POST /v1/jobs/{id}/faces/{n}/lime`` queues it and answers 202 with where the PNG will be; ``GET`` that
URL answers 404 ``not_ready`` until the worker has stored it (seconds to a minute: hundreds of model calls).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import BaseModel

from api.auth import JobsCaller
from api.deps import BlobStoreDep, SessionDep, SettingsDep
from api.errors import ApiError
from api.routes_job_reads import owned_job, send_blob
from core import heatmaps
from pipeline.classifier import ModelSpec, resolve_model_path
from pipeline.explain import crop_region
from workers.celery_app import enqueue_lime

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/jobs", tags=["explanations"])


class LimeOut(BaseModel):
    url: str  # where the PNG will be: GET it until it stops answering 404 not_ready
    method: str = "lime"
    region: list[int]  # [x, y, w, h]: stretch the PNG over this square (image or frame pixels)
    note: str = "slower than Grad-CAM: hundreds of model calls; expect seconds to a minute"


def _face(job, job_id: str, face: int) -> dict:
    faces = (job.result or {}).get("faces") or []
    if not 0 <= face < len(faces):
        raise ApiError(404, "not_found", f"job {job_id} has no face {face}")
    return faces[face]


def _crop_scale(settings) -> float:
    """The deployed model's crop margin, from its metadata alone (the API never loads the model)."""
    model_dir = resolve_model_path(settings.model_path)
    return ModelSpec.from_json(model_dir / "model.json").crop_scale if model_dir.is_dir() else 1.0


def _region(job, found: dict, settings) -> list[int]:
    """Where the face's crop lies; 404 ``media_gone`` when nothing is kept to cut it from again."""
    if job.result.get("kind") == "video":
        frames = found.get("frames") or []
        if frames and frames[0].get("url"):
            return frames[0]["region"]
    elif job.blob_key:
        return crop_region(found["box"], _crop_scale(settings))
    raise ApiError(404, "media_gone", "the picture of this face is no longer stored, so LIME cannot run on it")


@router.post("/{job_id}/faces/{face}/lime", status_code=202, response_model=LimeOut,
             summary="Ask for a LIME explanation of one face (slower than Grad-CAM)")
def ask_lime(job_id: str, face: int, session: SessionDep, settings: SettingsDep, caller: JobsCaller) -> LimeOut:
    """Queues LIME for ``faces[face]`` of a finished job: 404 ``not_found`` for no such face, 404
    ``media_gone`` when the photo (or the video person's top frame) is no longer stored, 503
    ``broker_unavailable`` when it cannot be queued."""
    job = owned_job(session, job_id, caller)
    region = _region(job, _face(job, job_id, face), settings)
    try:
        enqueue_lime(job_id, face)
    except Exception as exc:
        log.exception("LIME for job %s face %d could not be queued", job_id, face)
        raise ApiError(503, "broker_unavailable", "the queue is unavailable; try again",
                       headers={"Retry-After": "5"}) from exc
    return LimeOut(url=heatmaps.lime_url(job_id, face), region=region)


@router.get("/{job_id}/faces/{face}/lime.png", summary="A face's LIME map, once computed",
            responses={200: {"content": {"image/png": {}}}})
def face_lime(job_id: str, face: int, session: SessionDep, store: BlobStoreDep, settings: SettingsDep,
              caller: JobsCaller) -> FileResponse:
    """An RGBA PNG to stretch over the ``region`` the POST answered; 404 ``not_ready`` until it is stored."""
    job = owned_job(session, job_id, caller)
    _face(job, job_id, face)
    try:
        return send_blob(store, heatmaps.lime_key(job_id, face), "image/png", settings, "")
    except ApiError as exc:
        if exc.status != 404:
            raise
        raise ApiError(404, "not_ready", f"no LIME map for face {face} of job {job_id} yet (ask with POST)") from exc
