"""Video probing and frame sampling.

Frames are read in order with ``grab()`` (demux + decode, no colour
conversion) and converted with ``retrieve()`` only when sampled: measured
faster than seeking per sample, which re-decodes from the previous keyframe
each time. One frame is held at a time, so memory does not grow with length.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline.errors import ErrorCode, MediaError


@dataclass(frozen=True)
class VideoLimits:
    max_duration_s: float = 600.0
    max_pixels: int = 3840 * 2160
    max_frames: int = 200_000
    frames: int = 32  # spread over the clip (the DFDC winner's choice)
    max_per_second: float = 4.0  # a short clip gets fewer frames rather than near-duplicates


@dataclass(frozen=True)
class VideoInfo:
    duration_s: float
    fps: float
    width: int
    height: int
    codec: str
    frame_count: int

    def as_dict(self) -> dict:
        return {"duration_s": round(self.duration_s, 3), "fps": round(self.fps, 3), "width": self.width,
                "height": self.height, "codec": self.codec}


def _open(path: Path) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        if mp4_has_video_track(path) is False:
            raise MediaError(ErrorCode.NO_VIDEO_STREAM, "the file has no video stream (audio only?)")
        raise MediaError(ErrorCode.CORRUPT_MEDIA, "the video cannot be opened (corrupt or truncated container)")
    return cap


def mp4_has_video_track(path: Path) -> bool | None:
    """For MP4/MOV files: whether the ``moov`` box declares a video track; None if that cannot be told.

    OpenCV opens neither an audio-only file nor a corrupt one, so this is what tells them apart. Only the
    box headers and the ``moov`` box are read; ``mdat`` (the media data) is skipped.
    """
    with open(path, "rb") as f:
        while len(header := f.read(8)) == 8:
            size, kind, header_len = int.from_bytes(header[:4], "big"), header[4:8], 8
            if size == 1:  # a 64-bit size follows
                size, header_len = int.from_bytes(f.read(8), "big"), 16
            if kind == b"moov":
                moov = f.read(size - header_len if size else -1)
                handlers = [moov[i + 12:i + 16] for i in range(len(moov)) if moov.startswith(b"hdlr", i)]
                return b"vide" in handlers if handlers else None
            if size < header_len:  # 0 = "to the end of the file", or garbage
                return None
            f.seek(size - header_len, 1)
    return None


def _fourcc(cap: cv2.VideoCapture) -> str:
    code = int(cap.get(cv2.CAP_PROP_FOURCC))
    return code.to_bytes(4, "little").decode("ascii", "replace").strip("\x00 ").lower() or "unknown"


def probe_video(path: str | Path, limits: VideoLimits = VideoLimits()) -> VideoInfo:
    """Duration, frame rate, size and codec from the container, checked against the limits."""
    cap = _open(Path(path))
    try:
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps, count = float(cap.get(cv2.CAP_PROP_FPS)), int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        codec = _fourcc(cap)
    finally:
        cap.release()
    if width <= 0 or height <= 0:
        raise MediaError(ErrorCode.NO_VIDEO_STREAM, "the file has no video stream")
    if not 0 < fps <= 1000 or count <= 0:
        raise MediaError(ErrorCode.CORRUPT_MEDIA, f"implausible frame rate {fps} or frame count {count}")
    info = VideoInfo(count / fps, fps, width, height, codec, count)
    _check_limits(info, limits)
    return info


def _check_limits(info: VideoInfo, limits: VideoLimits) -> None:
    if info.width * info.height > limits.max_pixels:
        raise MediaError(ErrorCode.VIDEO_TOO_LARGE, f"{info.width}x{info.height} is over the limit of "
                                                    f"{limits.max_pixels} pixels per frame")
    if info.duration_s > limits.max_duration_s or info.frame_count > limits.max_frames:
        raise MediaError(ErrorCode.VIDEO_TOO_LONG, f"{info.duration_s:.0f} s / {info.frame_count} frames is over "
                                                   f"the limit of {limits.max_duration_s:.0f} s")


def sample_indices(frame_count: int, fps: float, frames: int, max_per_second: float,
                   start: int = 0, stop: int | None = None) -> list[int]:
    """Frame indices spread evenly over ``[start, stop)``, at most ``max_per_second`` per second."""
    stop = frame_count if stop is None else min(stop, frame_count)
    span = stop - start
    if span <= 0:
        return []
    n = min(frames, span, max(1, int(span / fps * max_per_second)))
    # Centre each sample in its share of the span so the first and last frames (often fades) are avoided.
    return sorted({start + int((i + 0.5) * span / n) for i in range(n)})


def iter_frames(path: str | Path, indices: list[int]) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, rgb)`` for each wanted index, decoding sequentially.

    Raises ``truncated_media`` when the stream ends before the last wanted
    frame it promised, after yielding the frames it did have.
    """
    wanted = iter(indices)
    target = next(wanted, None)
    cap = _open(Path(path))
    try:
        index = 0
        while target is not None:
            if not cap.grab():
                raise MediaError(ErrorCode.TRUNCATED_MEDIA, f"the video ends at frame {index}, before frame {target}")
            if index == target:
                ok, bgr = cap.retrieve()
                if not ok:
                    raise MediaError(ErrorCode.CORRUPT_MEDIA, f"frame {index} cannot be decoded")
                yield index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                target = next(wanted, None)
            index += 1
    finally:
        cap.release()
