"""Small pictures a moderator looks at beside a result: the list's thumbnail, and for a video the frames
that decided it (each counted person's highest-scoring sampled frames, as face crops).

Pure functions over files and arrays: the worker stores what they return (``workers/pictures.py``).
A decisive frame's crop is the square the model saw (``crop_face`` with the model's ``crop_scale``), so a
heatmap of it lies exactly over it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

THUMB_SIDE = 160  # the list shows thumbnails at 4-5 rem: twice that for sharp screens
CROP_SIDE = 192  # the default model's own input size: a bigger crop would show no more than it saw
PER_PERSON = 3


@dataclass(frozen=True)
class DecisiveFrame:
    track: int  # the person (``tracks[].id``)
    t: float  # presentation time, seconds: where the player seeks
    frame: int  # index into the video's frames, as in ``timeline[].frame``
    score: float  # the face's calibrated P(fake) on that frame
    box: list[int]  # [x, y, w, h] in frame pixels
    crop: np.ndarray  # (side, side, 3) uint8: the square the model saw


def jpeg(rgb: np.ndarray, max_side: int, quality: int = 82) -> bytes:
    """``rgb`` (H, W, 3 uint8) as a JPEG whose longer side is at most ``max_side``; aspect kept."""
    import cv2
    from PIL import Image

    height, width = rgb.shape[:2]
    factor = min(1.0, max_side / max(height, width))
    if factor < 1.0:
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def photo_thumbnail(path: str | Path, max_pixels: int) -> bytes:
    """The photo at ``path`` as a thumbnail JPEG (longer side ``THUMB_SIDE``). Raises ``MediaError`` as
    ``load_image`` does."""
    from pipeline.decode import load_image

    return jpeg(load_image(path, max_pixels), THUMB_SIDE)


def decisive_entries(result: dict, per_person: int = PER_PERSON) -> list[dict]:
    """For each person who decides the verdict (``tracks[].counted``), their ``per_person`` highest-scoring
    sampled faces: ``{"track", "t", "frame", "score", "box"}``, highest first within a person."""
    counted = {t["id"] for t in result.get("tracks") or [] if t.get("counted")}
    by_track: dict[int, list[dict]] = {}
    for entry in result.get("timeline") or []:
        for face in entry["faces"]:
            if face["track"] in counted and face.get("score") is not None:
                by_track.setdefault(face["track"], []).append(
                    {"track": face["track"], "t": entry["t"], "frame": entry["frame"], "score": face["score"],
                     "box": face["box"]})
    return [e for track in sorted(by_track)
            for e in sorted(by_track[track], key=lambda e: (-e["score"], e["t"]))[:per_person]]


def decisive_frames(path: str | Path, result: dict, crop_scale: float,
                    per_person: int = PER_PERSON) -> tuple[list[DecisiveFrame], np.ndarray | None]:
    """The decisive faces of the video at ``path`` cut from their frames, and the frame for its thumbnail:
    the highest-scoring face's frame, or the first sampled frame where no one counts (None if none read)."""
    from pipeline.faces import crop_face
    from pipeline.video import iter_frames

    entries = decisive_entries(result, per_person)
    timeline = result.get("timeline") or []
    cover = max(entries, key=lambda e: e["score"])["frame"] if entries else (timeline[0]["frame"] if timeline else None)
    wanted = sorted({e["frame"] for e in entries} | ({cover} if cover is not None else set()))
    frames = {frame.index: frame.rgb for frame in iter_frames(path, wanted)} if wanted else {}
    found = [DecisiveFrame(e["track"], e["t"], e["frame"], e["score"], list(e["box"]),
                           crop_face(frames[e["frame"]], tuple(e["box"]), crop_scale))
             for e in entries if e["frame"] in frames]
    return found, frames.get(cover)
