"""The pipeline run with the service's limits from settings: what the workers and ``deepfake scan`` both call."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings
from pipeline import FaceClassifier, Limits, VideoLimits, analyze_file
from pipeline.video_analysis import Progress


def limits(settings: Settings) -> Limits:
    return Limits(max_pixels=settings.max_image_pixels, min_face_confidence=settings.min_face_confidence,
                  detect_max_side=settings.detect_max_side, min_face_size=settings.min_face_size)


def video_limits(settings: Settings) -> VideoLimits:
    return VideoLimits(max_duration_s=settings.video_max_duration_s, max_pixels=settings.video_max_pixels,
                       frames=settings.video_frames, max_per_second=settings.video_max_frames_per_second)


def analyze(path: Path, classifier: FaceClassifier, settings: Settings, on_progress: Progress | None = None) -> dict:
    """The result dict of one file (``pipeline.analyze_file``); raises ``MediaError`` with its code."""
    return analyze_file(path, classifier, limits(settings), video_limits(settings), on_progress)
