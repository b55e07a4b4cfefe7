"""Where a job's pictures live in the blob store: each explained face's heatmap PNG (Grad-CAM, and LIME
when asked for), the job's thumbnail JPEG (the list shows it) and a video's decisive frames (face crops),
all keyed by job ID.

The result says which exist (``faces[n].heatmap``, ``thumbnail``, ``faces[n].frames``), so deleting a job
or purging it on retention finds every key from the row alone, with no listing of the store (LIME maps,
made later on request, are not in the result: every face's possible key is deleted). Thumbnails
and frames are cut from the media: a job sent with ``retain_media=false`` gets none (heatmaps are colours
only, and it may have those).
"""

from __future__ import annotations


def key(job_id: str, face: int) -> str:
    return f"heatmaps/{job_id}/{face}.png"


def url(job_id: str, face: int) -> str:
    return f"/v1/jobs/{job_id}/faces/{face}/heatmap.png"


def lime_key(job_id: str, face: int) -> str:
    return f"lime/{job_id}/{face}.png"


def lime_url(job_id: str, face: int) -> str:
    return f"/v1/jobs/{job_id}/faces/{face}/lime.png"


def thumbnail_key(job_id: str) -> str:
    return f"thumbnails/{job_id}.jpg"


def thumbnail_url(job_id: str) -> str:
    return f"/v1/jobs/{job_id}/thumbnail.jpg"


def frame_key(job_id: str, face: int, rank: int) -> str:
    return f"frames/{job_id}/{face}-{rank}.jpg"


def frame_url(job_id: str, face: int, rank: int) -> str:
    return f"/v1/jobs/{job_id}/faces/{face}/frames/{rank}.jpg"


def media_keys(job_id: str, result: dict | None) -> list[str]:
    """The keys of the pictures cut from the media that ``result`` links to: its thumbnail and frames."""
    result = result or {}
    faces = result.get("faces") or []
    thumbnail = [thumbnail_key(job_id)] if result.get("thumbnail") else []
    return thumbnail + [frame_key(job_id, n, rank) for n, face in enumerate(faces)
                        for rank, frame in enumerate(face.get("frames") or []) if frame.get("url")]


def stored_keys(job_id: str, result: dict | None) -> list[str]:
    """The blob keys of every picture ``result`` links to or may have (LIME): heatmaps, thumbnail, frames."""
    faces = (result or {}).get("faces") or []
    return ([key(job_id, n) for n, face in enumerate(faces) if face.get("heatmap")]
            + [lime_key(job_id, n) for n in range(len(faces))] + media_keys(job_id, result))


def without_pictures(result: dict) -> dict:
    """A copy of ``result`` linking no pictures: what another job reusing it gets, since the pictures are
    keyed by (and deleted with) the job that made them."""
    faces = [{k: v for k, v in face.items() if k not in ("heatmap", "frames")} for face in result.get("faces") or []]
    copy = {k: v for k, v in result.items() if k != "thumbnail"}
    return {**copy, "faces": faces} if "faces" in result else copy
