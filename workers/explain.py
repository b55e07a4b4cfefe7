"""Heatmaps for a photo job that asked for them (``explain``): computed after its analysis by the same
worker process, stored in the blob store, linked from each face of the result.

A video's faces are people tracked over many frames: each is explained on its highest-scoring frame
(``workers/pictures.py``). An ``explain`` job is never deduplicated itself: the result it would reuse may
have been made without heatmaps. A later plain upload of the same bytes may reuse its result, heatmaps included.
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
        put_bytes(store, heatmaps.key(job.id, n), found.png, settings)
        face["heatmap"] = {"url": heatmaps.url(job.id, n), "region": found.region, "method": "grad-cam"}
    return result


def put_bytes(store, key: str, data: bytes, settings) -> None:
    """``data`` stored at ``key`` through a temporary file (the store takes files)."""
    folder = settings.data_dir / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, delete=False) as out:
        out.write(data)
    try:
        store.put_file(key, Path(out.name))  # an idempotent overwrite when the task runs twice
    finally:
        Path(out.name).unlink(missing_ok=True)
