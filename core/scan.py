"""In-process analysis of one file for ``deepfake scan``: the same pipeline the workers run."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings
from pipeline import FaceClassifier, Limits, MediaError, VideoLimits, analyze_file
from pipeline.video_analysis import Progress


def limits(settings: Settings) -> Limits:
    return Limits(max_pixels=settings.max_image_pixels, min_face_confidence=settings.min_face_confidence,
                  detect_max_side=settings.detect_max_side, min_face_size=settings.min_face_size)


def video_limits(settings: Settings) -> VideoLimits:
    return VideoLimits(max_duration_s=settings.video_max_duration_s, max_pixels=settings.video_max_pixels,
                       frames=settings.video_frames, max_per_second=settings.video_max_frames_per_second)


def analyze(path: Path, classifier: FaceClassifier, settings: Settings, on_progress: Progress | None = None) -> dict:
    """The pipeline with the service's limits: what the workers and ``deepfake scan`` both run."""
    return analyze_file(path, classifier, limits(settings), video_limits(settings), on_progress)


def scan_file(path: Path, classifier: FaceClassifier, settings: Settings,
              on_progress: Progress | None = None) -> dict:
    """The result dict with its ``path``, or ``{"path", "error": {code, message}}``."""
    try:
        if not path.is_file():
            return {"path": str(path), "error": {"code": "source_not_found", "message": "no such file"}}
        if path.stat().st_size > settings.max_upload_bytes:
            return {"path": str(path), "error": {"code": "too_large", "message": "over the size limit"}}
        return {"path": str(path), **analyze(path, classifier, settings, on_progress)}
    except MediaError as exc:
        return {"path": str(path), "error": exc.as_dict()}
