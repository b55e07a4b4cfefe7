"""Stable, machine-readable failure codes shared by the pipeline, workers and API.

One shallow hierarchy: every expected failure is a ``MediaError`` carrying an
``ErrorCode``; anything else is a bug and is reported as ``internal_error``.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    EMPTY_FILE = "empty_file"
    UNSUPPORTED_MEDIA = "unsupported_media"
    CORRUPT_MEDIA = "corrupt_media"
    TRUNCATED_MEDIA = "truncated_media"
    IMAGE_TOO_LARGE = "image_too_large"  # pixel count over the limit (decompression bomb)
    NO_VIDEO_STREAM = "no_video_stream"
    VIDEO_TOO_LARGE = "video_too_large"  # frame size over the limit
    VIDEO_TOO_LONG = "video_too_long"  # duration or frame count over the limit
    TOO_LARGE = "too_large"  # byte size over the limit
    FETCH_FAILED = "fetch_failed"
    SOURCE_NOT_FOUND = "source_not_found"
    FORBIDDEN_URL = "forbidden_url"
    WORKER_LOST = "worker_lost"
    INTERNAL_ERROR = "internal_error"


class MediaError(Exception):
    """An input that cannot be processed. Expected; never a crash."""

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"code": str(self.code), "message": self.message}
