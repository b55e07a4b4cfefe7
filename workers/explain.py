"""Heatmaps for a photo job that asked for them (``explain``): computed after its analysis by the same
worker process, stored in the blob store, linked from each face of the result.

Photos only for now: a video's faces are people tracked over many frames, and which frame to explain is a
question of its own. Reused results (dedup) carry no heatmaps, so an ``explain`` job is never deduplicated.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from core import heatmaps
from core.analysis import limits
from core.blobs import default_blob_store
from pipeline.explain import explain_image
from workers import runtime


def add_heatmaps(job, path: Path, result: dict, settings) -> dict:
    """``result`` with a ``heatmap`` (its URL, the image ``region`` it covers, the method) on each face."""
    faces = result.get("faces") or []
    if not job.explain or result.get("kind") != "image" or not faces:
        return result
    with runtime.inference_lock():
        maps = explain_image(path, runtime.classifier(), [face["box"] for face in faces], limits(settings).max_pixels)
    store = default_blob_store()
    for n, (face, found) in enumerate(zip(faces, maps, strict=True)):
        _store(store, heatmaps.key(job.id, n), found.png, settings)
        face["heatmap"] = {"url": heatmaps.url(job.id, n), "region": found.region, "method": "grad-cam"}
    return result


def _store(store, key: str, png: bytes, settings) -> None:
    folder = settings.data_dir / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".png", delete=False) as out:
        out.write(png)
    try:
        store.put_file(key, Path(out.name))  # an idempotent overwrite when the task runs twice
    finally:
        Path(out.name).unlink(missing_ok=True)
