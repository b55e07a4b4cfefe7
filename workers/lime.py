"""LIME for one face, on request (``POST /v1/jobs/{id}/faces/{n}/lime``): the face is cut again from
what the job keeps (a photo's stored upload, or a video person's top decisive frame) and its map stored
at ``lime/{job}/{n}.png``. Nothing is recorded in the job: the stored PNG is the answer, so a request sent
twice computes twice and overwrites, harmlessly. A face with nothing left to cut it from is skipped.
A job deleted or purged while its map was computed loses the map again: the job is looked up once more
after the map is stored (a deletion before that point finds the map; one after it, the deletion removes it).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from core import heatmaps
from core.analysis import limits
from core.blobs import BlobNotFound, default_blob_store
from core.db import session_scope
from core.settings import get_settings
from core.tables import Job
from pipeline.decode import load_image
from pipeline.explain import heatmap_png
from pipeline.faces import crop_face
from pipeline.lime_map import lime_heat
from workers import runtime
from workers.celery_app import EXPLAIN_LIME, app
from workers.explain import put_bytes

log = logging.getLogger(__name__)


@app.task(name=EXPLAIN_LIME)
def explain_lime(job_id: str, face: int) -> bool:
    """Compute and store face ``face``'s LIME map; False when the job, face or its picture is gone."""
    settings = get_settings()
    with session_scope() as session:
        job = session.get(Job, job_id)
        result, blob_key = (job.result, job.blob_key) if job is not None else (None, None)
    faces = (result or {}).get("faces") or []
    crop = _face_crop(job_id, face, faces[face], result["kind"], blob_key, settings) if face < len(faces) else None
    if crop is None:
        log.info("job %s face %d: nothing left to explain with LIME", job_id, face)
        return False
    with runtime.inference_lock():
        heat = lime_heat(runtime.classifier(), crop)
    store, key = default_blob_store(), heatmaps.lime_key(job_id, face)
    put_bytes(store, key, heatmap_png(heat), settings)
    if not _still_kept(job_id):
        store.delete(key)
        log.info("job %s was deleted or purged while its LIME map was made; the map is removed", job_id)
        return False
    return True


def _still_kept(job_id: str) -> bool:
    with session_scope() as session:
        job = session.get(Job, job_id)
        return job is not None and job.purged_at is None


def _face_crop(job_id: str, n: int, face: dict, kind: str, blob_key: str | None, settings) -> np.ndarray | None:
    """The square crop the model saw for this face, from the stored upload or the stored frame crop."""
    if kind == "video":
        frames = face.get("frames") or []
        # The frame the result links: a reused result's is the analysing job's (``core.heatmaps``).
        picture = heatmaps.picture_at(frames[0]["url"]) if frames and frames[0].get("url") else None
        key = picture.key if picture else None
    else:
        key = blob_key
    if key is None:
        return None
    folder = settings.data_dir / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkstemp(dir=folder, prefix="lime-")[1])
    try:
        default_blob_store().download_to(key, path)
        image = load_image(path, limits(settings).max_pixels)
    except BlobNotFound:
        return None
    finally:
        path.unlink(missing_ok=True)
    if kind == "video":
        return image  # the decisive frame's crop, stored as the model saw it
    return crop_face(image, tuple(face["box"]), runtime.classifier().spec.crop_scale)
