"""Where a job's face heatmaps live: one PNG per explained face, keyed by job ID and face number.

The result says which faces have one (``faces[n].heatmap``), so deleting a job or purging it on retention
finds every key from the row alone, with no listing of the store.
"""

from __future__ import annotations


def key(job_id: str, face: int) -> str:
    return f"heatmaps/{job_id}/{face}.png"


def url(job_id: str, face: int) -> str:
    return f"/v1/jobs/{job_id}/faces/{face}/heatmap.png"


def stored_keys(job_id: str, result: dict | None) -> list[str]:
    """The blob keys of the heatmaps ``result`` links to."""
    faces = (result or {}).get("faces") or []
    return [key(job_id, n) for n, face in enumerate(faces) if face.get("heatmap")]
