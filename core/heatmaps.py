"""Where a job's pictures live in the blob store: each explained face's heatmap PNG (Grad-CAM, and LIME
when asked for), the job's thumbnail JPEG (the list shows it) and a video's decisive frames (face crops),
all keyed by job ID.

The result says which exist (``faces[n].heatmap``, ``thumbnail``, ``faces[n].frames``), so deleting a job
or purging it on retention finds every key from the row alone, with no listing of the store (LIME maps,
made later on request, are not in the result: every face's possible key is deleted). Thumbnails
and frames are cut from the media: a job sent with ``retain_media=false`` gets none (heatmaps are colours
only, and it may have those).

A reused result (dedup, always within one tenant) links the pictures of the job that analysed the media,
by that job's URLs: nothing is copied, and the pictures stay that job's, removed with it and never with a
job that reused them (``stored_keys`` of a job are keyed by its own ID). ``picture_at`` reads such a
link back into the job and key behind it.
"""

from __future__ import annotations

from typing import NamedTuple


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


class Picture(NamedTuple):
    job_id: str  # the job that made it
    key: str


def picture_at(url: str) -> Picture | None:
    """The job and blob key behind a picture URL of a result (a reused result's name the analysing job)."""
    parts = url.split("/")  # ["", "v1", "jobs", <id>, ...]
    if len(parts) < 5 or parts[:3] != ["", "v1", "jobs"]:
        return None
    job_id, rest = parts[3], parts[4:]
    found = None
    if rest == ["thumbnail.jpg"]:
        found = thumbnail_key(job_id)
    elif len(rest) == 3 and rest[0] == "faces" and rest[1].isdigit() and rest[2] == "heatmap.png":
        found = key(job_id, int(rest[1]))
    elif len(rest) == 4 and rest[:1] + rest[2:3] == ["faces", "frames"] and rest[1].isdigit():
        rank = rest[3].removesuffix(".jpg")
        found = frame_key(job_id, int(rest[1]), int(rank)) if rank.isdigit() else None
    return Picture(job_id, found) if found else None
