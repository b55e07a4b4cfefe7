"""Media file in, result dict out: decode → detect → crop → classify → verdict.

The result is the documented contract (README, "Result format"): the same
dict is printed by ``deepfake scan --json`` and stored under ``result`` of a job.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.classifier import FaceClassifier
from pipeline.decode import load_image
from pipeline.errors import ErrorCode, MediaError
from pipeline.faces import crop_face, detect_faces, detector_name
from pipeline.sniff import SNIFF_BYTES, sniff
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


def analyze_file(path: str | Path, classifier: FaceClassifier, limits: Limits = Limits(),
                 video_limits: VideoLimits = VideoLimits(), on_progress: Progress | None = None) -> dict:
    """Analyse one image or video. Raises ``MediaError`` for input that cannot be processed.

    ``on_progress(fraction)`` is called as video frames are processed.
    """
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    if not head:
        raise MediaError(ErrorCode.EMPTY_FILE, "the file is empty")
    media_type = sniff(head)
    if media_type is None:
        raise MediaError(ErrorCode.UNSUPPORTED_MEDIA, "not a supported image format")
    if media_type.kind == "video":
        return analyze_video(path, classifier, limits, video_limits, on_progress)
    clock = _Clock()
    image = load_image(path, limits.max_pixels)
    clock.lap("decode")
    faces = detect_faces(image, limits.min_face_confidence, limits.detect_max_side, limits.min_face_size)
    clock.lap("detect")
    scores = classifier.score([crop_face(image, f.box, classifier.spec.crop_scale) for f in faces])
    clock.lap("classify")
    return _result(path, media_type.mime, image.shape, faces, scores, classifier, clock)


def _result(path, mime, shape, faces, scores, classifier, clock) -> dict:
    spec = classifier.spec
    face_scores = [s.score for s in scores]
    clock.timings["total"] = round(sum(clock.timings.values()), 2)
    sha256 = file_sha256(path)
    return {
        "kind": "image",
        "sha256": sha256,
        "media": {"kind": "image", "mime": mime, "width": int(shape[1]), "height": int(shape[0]),
                  "size_bytes": path.stat().st_size, "sha256": sha256},
        "verdict": verdict(face_scores, spec.bands),
        "score": max(face_scores) if face_scores else None,
        "faces": [
            {"box": list(f.box), "detector_confidence": f.confidence, "score": s.score, "label": s.label,
             "band": s.band}
            for f, s in zip(faces, scores, strict=True)
        ],
        "detector": detector_name(),
        "model": {"name": spec.name, "version": spec.version, "threshold": spec.threshold,
                  "bands": list(spec.bands)},
        "timings_ms": clock.timings,
    }
