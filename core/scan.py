"""In-process analysis of one file for ``deepfake scan``: the same pipeline the workers run."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from core.settings import Settings
from pipeline import ErrorCode, FaceClassifier, ImageBatch, Limits, MediaError, VideoLimits, analyze_file, media_type
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


def scan_files(paths: Iterable[Path], classifier: FaceClassifier, settings: Settings,
               progress_for: Callable[[Path], Progress | None] = lambda _path: None) -> Iterator[dict]:
    """``scan_file`` over many files, in order. Images go through in groups of
    ``settings.bulk_group_size`` so their faces share model calls, as on the service's bulk lane."""
    batch, pending = ImageBatch(classifier, limits(settings)), []
    for path in paths:
        try:
            _check_file(path, settings)
            found = media_type(path)
            if found.kind == "image":
                batch.add(path, found)
                pending.append(path)
                if len(pending) >= settings.bulk_group_size:
                    yield from _rows(pending, batch)
                    pending = []
                continue
        except MediaError as exc:
            yield from _rows(pending, batch)
            pending = []
            yield {"path": str(path), "error": exc.as_dict()}
            continue
        yield from _rows(pending, batch)
        pending = []
        yield scan_file(path, classifier, settings, progress_for(path))
    yield from _rows(pending, batch)


def _rows(paths: list[Path], batch: ImageBatch) -> list[dict]:
    return [{"path": str(p), **result} for p, result in zip(paths, batch.results(), strict=True)] if paths else []


def _check_file(path: Path, settings: Settings) -> None:
    if not path.is_file():
        raise MediaError(ErrorCode.SOURCE_NOT_FOUND, "no such file")
    if path.stat().st_size > settings.max_upload_bytes:
        raise MediaError(ErrorCode.TOO_LARGE, "over the size limit")


def scan_file(path: Path, classifier: FaceClassifier, settings: Settings,
              on_progress: Progress | None = None) -> dict:
    """The result dict with its ``path``, or ``{"path", "error": {code, message}}``."""
    try:
        _check_file(path, settings)
        return {"path": str(path), **analyze(path, classifier, settings, on_progress)}
    except MediaError as exc:
        return {"path": str(path), "error": exc.as_dict()}
