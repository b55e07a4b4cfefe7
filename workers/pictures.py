"""The pictures made after a job's analysis, in the worker that analysed it: every job's thumbnail, and
for a video the frames that decided it (with a heatmap of each person's top frame when ``explain``).

Each picture is stored in the blob store under a key made from the job ID (``core/heatmaps.py``), so a
task that runs twice overwrites, never duplicates. A picture that cannot be made (a frame that no longer
decodes, a store error) is left out and logged; it never fails a job whose analysis succeeded. A photo's
heatmaps, asked for with ``explain``, are not a courtesy: their errors fail the job as before, and the
pictures already stored for it are removed (a failed job links none, so nothing else would find them).

The pictures are written before the job's outcome is recorded: when that outcome is dropped because the
job was deleted (or purged) meanwhile, ``remove_pictures`` takes them away again (``workers/outcome.py``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from core import heatmaps
from core.analysis import limits
from core.blobs import default_blob_store
from pipeline import MediaError
from pipeline.explain import crop_region, explain_crop
from pipeline.pictures import CROP_SIDE, THUMB_SIDE, decisive_frames, jpeg, photo_thumbnail
from workers import runtime
from workers.explain import add_heatmaps, put_bytes

log = logging.getLogger(__name__)


def add_pictures(job, path: Path, result: dict, settings) -> dict:
    """``result`` with ``thumbnail`` (its URL) and, for a video, ``faces[n].frames`` (and ``heatmap``).
    A job that keeps no media (``retain_media=false``) keeps no pictures cut from it either."""
    try:
        if result.get("kind") == "video":
            return _video_pictures(job, path, result, settings)
        if job.retain_media is not False:
            put_bytes(default_blob_store(), heatmaps.thumbnail_key(job.id),
                      photo_thumbnail(path, limits(settings).max_pixels), settings)
            result["thumbnail"] = heatmaps.thumbnail_url(job.id)
    except MediaError as exc:
        log.info("job %s: no pictures (%s)", job.id, exc.message)
    except Exception:  # a courtesy: a store hiccup must not fail an analysis that succeeded
        log.warning("job %s: pictures not stored", job.id, exc_info=True)
    try:
        return add_heatmaps(job, path, result, settings)
    except BaseException:
        remove_pictures(job.id, result)  # the job fails: no result will link what was stored
        raise


def remove_pictures(job_id: str, result: dict | None) -> None:
    """Delete every picture this worker may have stored for ``job_id`` while making ``result``: what the
    result links, plus the thumbnail and each face's heatmap, stored before their link was written."""
    faces = (result or {}).get("faces") or []
    keys = {*heatmaps.stored_keys(job_id, result), heatmaps.thumbnail_key(job_id),
            *(heatmaps.key(job_id, n) for n in range(len(faces)))}
    store = default_blob_store()
    for key in sorted(keys):
        try:
            store.delete(key)
        except Exception:  # logged; the rest are still deleted
            log.warning("job %s: picture %s not deleted", job_id, key, exc_info=True)


def _video_pictures(job, path: Path, result: dict, settings) -> dict:
    classifier, keep = runtime.classifier(), job.retain_media is not False
    found, cover = decisive_frames(path, result, classifier.spec.crop_scale)
    store = default_blob_store()
    if cover is not None and keep:
        put_bytes(store, heatmaps.thumbnail_key(job.id), jpeg(cover, THUMB_SIDE), settings)
        result["thumbnail"] = heatmaps.thumbnail_url(job.id)
    face_of_track = {face["track"]: n for n, face in enumerate(result.get("faces") or [])}
    for frame in found:
        n = face_of_track[frame.track]
        face = result["faces"][n]
        rank = len(face.setdefault("frames", []))
        shown = {"t": frame.t, "frame": frame.frame, "score": frame.score, "box": frame.box,
                 "region": crop_region(frame.box, classifier.spec.crop_scale)}
        if keep:
            put_bytes(store, heatmaps.frame_key(job.id, n, rank), jpeg(frame.crop, CROP_SIDE), settings)
            shown["url"] = heatmaps.frame_url(job.id, n, rank)
        face["frames"].append(shown)
        if job.explain and rank == 0:  # the person's highest-scoring frame: what decided their score
            _explain_frame(job, n, face, frame, classifier, settings)
    return result


def _explain_frame(job, n: int, face: dict, frame, classifier, settings) -> None:
    with runtime.inference_lock():
        png = explain_crop(classifier, frame.crop)
    put_bytes(default_blob_store(), heatmaps.key(job.id, n), png, settings)
    face["heatmap"] = {"url": heatmaps.url(job.id, n), "region": face["frames"][0]["region"],
                       "method": "grad-cam", "t": frame.t, "frame": frame.frame}
