"""Sample media built from package-shipped images, plus deliberately broken files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

# skimage.data.astronaut(): the face is at about x 180-265, y 60-175 (checked by eye).
ASTRONAUT_FACE = (180, 60, 85, 115)


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def no_face() -> np.ndarray:
    from skimage import data

    return data.coffee()


def jpeg_bytes(rgb: np.ndarray, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def truncated_jpeg() -> bytes:
    data = jpeg_bytes(astronaut())
    return data[: len(data) // 2]


def corrupt_jpeg() -> bytes:
    """A JPEG signature followed by garbage."""
    return b"\xff\xd8\xff\xe0" + bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8))


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG whose header claims ``width x height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(64)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def face_patch(mirror: bool = False) -> np.ndarray:
    """The astronaut's head and shoulders, 240 x 200 pixels."""
    patch = astronaut()[20:260, 130:330]
    return patch[:, ::-1] if mirror else patch


def write_clip(path: Path, tracks: list[tuple[tuple[int, int], tuple[int, int]]], frames: int = 60, fps: float = 15.0,
               size: tuple[int, int] = (640, 360), mirror_second: bool = True, fourcc: str = "mp4v") -> Path:
    """A clip (container from the suffix) of faces moving in straight lines over grey.

    Each track is ``(start, end)``: the face's top-left corner in the first and last frame.
    """
    import cv2

    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), "OpenCV cannot write MP4 here"
    patches = [cv2.cvtColor(face_patch(mirror=mirror_second and i == 1), cv2.COLOR_RGB2BGR) for i in range(len(tracks))]
    for f in range(frames):
        frame = np.full((height, width, 3), 110, np.uint8)
        frame[:, :, 0] = np.linspace(60, 160, width, dtype=np.uint8)  # a gradient, so frames are not flat
        for (start, end), patch in zip(tracks, patches, strict=True):
            x = round(start[0] + (end[0] - start[0]) * f / max(frames - 1, 1))
            y = round(start[1] + (end[1] - start[1]) * f / max(frames - 1, 1))
            ph, pw = patch.shape[:2]
            frame[y:y + ph, x:x + pw] = patch
        writer.write(frame)
    writer.release()
    return path


AUDIO_CODECS = {".mp4": ("aac", 16000), ".mkv": ("aac", 16000), ".webm": ("libopus", 48000),
                ".avi": ("pcm_s16le", 16000)}


def write_audio_only(path: Path, seconds: float = 1.0) -> Path:
    """A file holding one silent audio track and no video, in the container its suffix names."""
    import av

    codec, rate = AUDIO_CODECS[path.suffix]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        sample_format, samples = stream.codec_context.format.name, stream.codec_context.frame_size or 1024
        dtype = np.float32 if sample_format.startswith("flt") else np.int16
        for _ in range(int(seconds * rate / samples)):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, samples), dtype), format=sample_format, layout="mono")
            frame.sample_rate = rate
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path
