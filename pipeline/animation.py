"""Animated images (WebP, GIF, APNG) read as short videos: frames and their display times from Pillow.

An animation's first frame is often a title card; judging only it would miss the face that follows.
The video pipeline samples an animation by time like any clip, through ``probe`` and ``frames``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence

from pipeline.errors import ErrorCode, MediaError

DEFAULT_FRAME_MS = 100  # browsers show a frame with no (or a zero) duration for about this long


def is_animated(path: str | Path) -> bool:
    """Whether the image file holds more than one frame (False for anything Pillow cannot open)."""
    try:
        with Image.open(path) as img:
            return bool(getattr(img, "is_animated", False)) and getattr(img, "n_frames", 1) > 1
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        return False


def times(path: str | Path, max_pixels: int, max_frames: int) -> tuple[list[float], tuple[int, int], str]:
    """Each frame's display time (s, ascending from 0), the size and the format. Raises ``MediaError``
    (``video_too_large``, ``video_too_long``, ``corrupt_media``)."""
    try:
        with Image.open(path) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise MediaError(ErrorCode.VIDEO_TOO_LARGE, f"{width}x{height} is over the limit of {max_pixels} "
                                                            "pixels per frame")
            if img.n_frames > max_frames:
                raise MediaError(ErrorCode.VIDEO_TOO_LONG, f"{img.n_frames} frames is over the limit of {max_frames}")
            durations = [_frame_ms(frame) for frame in ImageSequence.Iterator(img)]
            kind = (img.format or "image").lower()
    except (OSError, ValueError, SyntaxError) as exc:
        raise MediaError(ErrorCode.CORRUPT_MEDIA, f"the animation cannot be read: {exc}") from exc
    return [float(t) for t in np.cumsum([0, *durations[:-1]]) / 1000.0], (width, height), kind


def _frame_ms(frame: Image.Image) -> int:
    frame.load()  # WebP sets a frame's duration only once it is decoded
    duration = frame.info.get("duration") or 0
    return int(duration) if duration > 10 else DEFAULT_FRAME_MS  # 0-10 ms: "as fast as possible", shown ~100


def frames(path: str | Path, indices: list[int]) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, rgb)`` for each wanted frame, in order; RGB ``uint8`` (H, W, 3), transparency over black."""
    wanted = set(indices)
    try:
        with Image.open(path) as img:
            for index, frame in enumerate(ImageSequence.Iterator(img)):
                if index in wanted:
                    yield index, np.asarray(frame.convert("RGB"))
                if index >= max(wanted):
                    return
    except (OSError, ValueError, SyntaxError) as exc:
        raise MediaError(ErrorCode.CORRUPT_MEDIA, f"the animation cannot be read: {exc}") from exc
