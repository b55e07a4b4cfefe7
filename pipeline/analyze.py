"""Media file in, result dict out: decode → detect → crop → classify → verdict.

The result is the documented contract (README, "Result format"): the same
dict is printed by ``deepfake scan --json`` and stored under ``result`` of a job.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.animation import is_animated
from pipeline.classifier import FaceClassifier
from pipeline.decode import load_image
from pipeline.errors import ErrorCode, MediaError
from pipeline.faces import crop_face, detect_faces, detector_name
from pipeline.sniff import SNIFF_BYTES, MediaType, sniff
from pipeline.video import VideoLimits
from pipeline.video_analysis import Progress, analyze_video


@dataclass(frozen=True)
class Limits:
    max_pixels: int = 50_000_000
    min_face_confidence: float = 0.6
    detect_max_side: int = 640
    min_face_size: int = 24


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verdict(scores: list[float], bands: tuple[float, float]) -> str:
    """The media verdict from its face scores: the most suspicious face decides.

    One manipulated face makes the media manipulated, so the maximum counts;
    a face in the uncertain band keeps the media ``uncertain`` even when the
    others look real. No face is its own outcome, never ``real``.
    """
    if not scores:
        return "no_face"
    top = max(scores)
    if top >= bands[1]:
        return "fake"
    if top < bands[0]:
        return "real"
    return "uncertain"


class _Clock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round((now - self._last) * 1000, 2)
        self._last = now


ANIMATABLE = {"image/gif", "image/webp", "image/png"}


def media_type(path: str | Path) -> MediaType:
    """What the file is, from its first bytes; an animated image is of kind ``video``. Raises
    ``MediaError`` for empty or unsupported files."""
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    if not head:
        raise MediaError(ErrorCode.EMPTY_FILE, "the file is empty")
    found = sniff(head)
    if found is None:
        raise MediaError(ErrorCode.UNSUPPORTED_MEDIA, "not a supported image or video format")
    if found.mime in ANIMATABLE and is_animated(path):
        return MediaType("video", found.mime)  # analysed frame by frame like a short clip
    return found


def analyze_file(path: str | Path, classifier: FaceClassifier, limits: Limits = Limits(),
                 video_limits: VideoLimits = VideoLimits(), on_progress: Progress | None = None) -> dict:
    """Analyse one image or video. Raises ``MediaError`` for input that cannot be processed.

    ``on_progress(fraction)`` is called as video frames are processed.
    """
    path = Path(path)
    found = media_type(path)
    if found.kind == "video":
        return analyze_video(path, classifier, limits, video_limits, on_progress)
    batch = ImageBatch(classifier, limits)
    batch.add(path, found)
    return batch.results()[0]


@dataclass
class _Detected:
    sha256: str
    size_bytes: int
    mime: str
    shape: tuple[int, ...]
    faces: list
    crops: list[np.ndarray]
    clock: _Clock


class ImageBatch:
    """Images analysed together, for backlogs: each image is decoded and its faces detected as it
    is added (the decoded pixels are dropped, only the face crops are kept), then the faces of
    every image are classified in one batched model call, which costs less per face than one
    call per image. Results are the same as ``analyze_file``'s."""

    def __init__(self, classifier: FaceClassifier, limits: Limits = Limits()):
        self.classifier, self.limits = classifier, limits
        self._items: list[_Detected] = []

    def __len__(self) -> int:
        return len(self._items)

    def add(self, path: str | Path, found: MediaType | None = None, sha256: str | None = None) -> None:
        """Decode and detect. Raises ``MediaError`` (the image is then not part of the batch)."""
        path = Path(path)
        found = found or media_type(path)
        if found.kind != "image":
            raise ValueError(f"{path} is a video; use analyze_file")
        clock = _Clock()
        image = load_image(path, self.limits.max_pixels)
        clock.lap("decode")
        limits = self.limits
        faces = detect_faces(image, limits.min_face_confidence, limits.detect_max_side, limits.min_face_size)
        # Kept at the model's input size: a batch holds small crops, never whole decoded images.
        crops = [self.classifier.fit(crop_face(image, f.box, self.classifier.spec.crop_scale)) for f in faces]
        clock.lap("detect")
        # Hash and size now: the caller may delete the file before ``results``.
        self._items.append(_Detected(sha256 or file_sha256(path), path.stat().st_size, found.mime, image.shape,
                                     faces, crops, clock))

    def results(self) -> list[dict]:
        """One result per added image, in order; the batch is empty afterwards."""
        items, self._items = self._items, []
        start = time.perf_counter()
        scores = self.classifier.score([crop for item in items for crop in item.crops])
        total_faces = max(1, len(scores))
        per_face_ms = (time.perf_counter() - start) * 1000 / total_faces
        results, offset = [], 0
        for item in items:
            mine = scores[offset:offset + len(item.faces)]
            offset += len(item.faces)
            # The shared model call is charged to each image by its number of faces.
            item.clock.timings["classify"] = round(per_face_ms * len(item.faces), 2)
            results.append(_result(item, mine, self.classifier))
        return results


def _result(item: _Detected, scores, classifier) -> dict:
    spec = classifier.spec
    face_scores = [s.score for s in scores]
    item.clock.timings["total"] = round(sum(item.clock.timings.values()), 2)
    return {
        "kind": "image",
        "sha256": item.sha256,
        "media": {"kind": "image", "mime": item.mime, "width": int(item.shape[1]), "height": int(item.shape[0]),
                  "size_bytes": item.size_bytes, "sha256": item.sha256},
        "verdict": verdict(face_scores, spec.bands),
        "score": max(face_scores) if face_scores else None,
        "faces": [
            {"box": list(f.box), "detector_confidence": f.confidence, "score": s.score,
             "model_scores": s.model_scores, "label": s.label, "band": s.band}
            for f, s in zip(item.faces, scores, strict=True)
        ],
        "detector": detector_name(),
        "model": {"name": spec.name, "version": spec.version, "threshold": spec.threshold,
                  "bands": list(spec.bands)},
        "models": spec.models(),
        "timings_ms": item.clock.timings,
    }
