"""Clips with chosen presentation times, audio and damage, written with PyAV: the kinds phones, browsers
and screen recorders make (variable frame rate, no duration in the header, audio longer than video)."""

from __future__ import annotations

import io
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

from tests.media import face_patch

MS = Fraction(1, 1000)
CODECS = {".mp4": "libx264", ".mkv": "libx264", ".webm": "libvpx"}
AUDIO = {".mp4": ("aac", 48000), ".mkv": ("aac", 48000), ".webm": ("libopus", 48000)}


class _Unseekable(io.RawIOBase):
    """A write-only stream that cannot seek back, as MediaRecorder's output: the muxer can write
    neither a Duration nor Cues."""

    def __init__(self, sink):
        self.sink = sink

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data) -> int:
        return self.sink.write(data)


def picture(index: int, face: bool, size: tuple[int, int]) -> np.ndarray:
    """A gradient that shifts with ``index`` (so no two frames are alike), with the face patch or without."""
    width, height = size
    rgb = np.full((height, width, 3), 110, np.uint8)
    rgb[:, :, 2] = (np.linspace(60, 160, width) + index * 3).astype(np.uint8)
    if face:
        patch = face_patch()
        y, x = (height - patch.shape[0]) // 2, (width - patch.shape[1]) // 2
        rgb[y:y + patch.shape[0], x:x + patch.shape[1]] = patch
    return rgb


def write_timed(path: Path, times: list[float], has_face: Callable[[int], bool] = lambda _i: True,
                size: tuple[int, int] = (320, 256), audio_s: float = 0.0, streamed: bool = False,
                gop: int = 30, faststart: bool = False) -> Path:
    """Frame ``i`` shown from ``times[i]`` seconds; codec and container from the suffix. ``audio_s``
    adds that much silence; ``streamed`` writes through a stream that cannot seek (no duration, no index);
    ``faststart`` puts an MP4's index (``moov``) before its media data, as files made for the web have it."""
    import av

    options = {"movflags": "faststart"} if faststart else {}
    with open(path, "wb") as raw:
        target = _Unseekable(raw) if streamed else raw
        container_format = {".mkv": "matroska"}.get(path.suffix, path.suffix[1:])
        with av.open(target, "w", format=container_format, options=options) as out:
            video = out.add_stream(CODECS[path.suffix], rate=30)
            video.width, video.height, video.pix_fmt, video.time_base = *size, "yuv420p", MS
            video.codec_context.gop_size = gop
            audio = _add_audio(out, path.suffix) if audio_s else None
            for i, t in enumerate(times):
                frame = av.VideoFrame.from_ndarray(picture(i, has_face(i), size), format="rgb24")
                frame.pts, frame.time_base = round(t * 1000), MS
                out.mux(video.encode(frame))
            out.mux(video.encode(None))
            if audio is not None:
                _write_silence(out, audio, audio_s)
    return path


def _add_audio(out, suffix: str):
    codec, rate = AUDIO[suffix]
    return out.add_stream(codec, rate=rate)


def _write_silence(out, stream, seconds: float) -> None:
    import av

    rate, chunk = stream.rate, 960
    for start in range(0, int(seconds * rate), chunk):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, chunk), np.float32), format="fltp", layout="mono")
        frame.rate, frame.pts = rate, start
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def damage(path: Path, at: float, length: int, seed: int = 0) -> Path:
    """Overwrite ``length`` bytes from ``at`` (a fraction of the file's media data) with noise; the
    container's index is left intact."""
    data = bytearray(path.read_bytes())
    start, end = _media_data(bytes(data))
    offset = start + int((end - start) * at)
    length = min(length, end - offset)
    data[offset:offset + length] = np.random.default_rng(seed).integers(0, 256, length, np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def _media_data(data: bytes) -> tuple[int, int]:
    """Where an MP4's ``mdat`` payload lies (the whole file for other containers, less 4 KiB each end)."""
    at = data.find(b"mdat")
    if at < 4:
        return 4096, len(data) - 4096
    size = int.from_bytes(data[at - 4:at], "big")
    return at + 4, at - 4 + size
