"""Video probing and frame sampling by presentation time (PyAV, FFmpeg's own timestamps).

The container's header is not trusted: a browser-recorded WebM has no duration, an MKV whose audio runs
longer than its video reports the audio's length, and a variable-frame-rate clip has no single frame rate.
``probe_video`` therefore demuxes the video track's packets (no decoding; a few milliseconds per thousand
frames) and takes the frame count and each frame's presentation time from them. Samples are chosen by
time (a clip's quiet minute is not skipped because it holds few frames), and are always distinct frames:
a frame held on screen for seconds is taken once, and the samples it would have taken go to other frames,
so a clip gets as many frames as the sampling rule says (every frame when it has fewer).

``iter_frames`` decodes in order (measured faster than seeking per sample, which re-decodes from the
previous keyframe each time) and converts to RGB only the frames it yields; one frame is held at a time.
A frame that fails to decode is skipped and counted; a sampled frame that is missing is replaced by the
next one that decodes. ``truncated_media`` is raised only when nothing decodes after the damage, or when
nothing can be read of a file that ends before what its container declares (``containers.is_cut_short``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from pipeline import animation
from pipeline.containers import has_video_track, is_cut_short, mp4_has_video_track  # noqa: F401 (re-exported)
from pipeline.errors import ErrorCode, MediaError
from pipeline.sniff import SNIFF_BYTES, sniff


@dataclass(frozen=True)
class VideoLimits:
    max_duration_s: float = 600.0
    max_pixels: int = 3840 * 2160
    max_frames: int = 200_000
    frames: int = 32  # spread over the clip (the DFDC winner's choice)
    max_per_second: float = 4.0  # a long clip gets fewer near-duplicates
    # A clip gets at least this many samples when it has them, and every frame when it has fewer:
    # a 0.4 s clip at 4 per second would get one sample, too few to tell a person from a false detection.
    min_frames: int = 16


@dataclass(frozen=True)
class VideoInfo:
    duration_s: float
    fps: float  # the stream's average rate; a variable-frame-rate clip has no single one
    width: int
    height: int
    codec: str
    frame_count: int
    # Presentation time in seconds of every frame, ascending (as ffprobe's pts_time).
    times: tuple[float, ...] = field(default=(), repr=False)

    def as_dict(self) -> dict:
        return {"duration_s": round(self.duration_s, 3), "fps": round(self.fps, 3), "width": self.width,
                "height": self.height, "codec": self.codec}


@dataclass(frozen=True)
class Frame:
    index: int  # position in presentation order, as in ``VideoInfo.times``
    t: float  # presentation time, seconds
    rgb: np.ndarray  # (H, W, 3) uint8, display rotation applied


@dataclass
class ReadStats:
    """What ``iter_frames`` met between the first and the last frame it yielded."""

    undecodable: int = 0  # frames in that span that did not decode


def _open(path: Path) -> av.container.InputContainer:
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        if has_video_track(path) is False:
            raise MediaError(ErrorCode.NO_VIDEO_STREAM, "the file has no video stream (audio only?)") from exc
        raise _unreadable(path, "the video cannot be opened") from exc
    if not container.streams.video:
        streams = len(container.streams)
        container.close()
        if not streams and has_video_track(path) is not False:  # a container header followed by garbage
            raise _unreadable(path, "the video cannot be opened")
        raise MediaError(ErrorCode.NO_VIDEO_STREAM, "the file has no video stream (audio only?)")
    return container


def _unreadable(path: Path, what: str) -> MediaError:
    """``truncated_media`` when the file ends before what its container declares, else ``corrupt_media``."""
    if is_cut_short(path):
        return MediaError(ErrorCode.TRUNCATED_MEDIA, f"{what}: the file ends before the data its container "
                                                     "declares (an upload or copy cut short?)")
    return MediaError(ErrorCode.CORRUPT_MEDIA, f"{what} (its data is not what its container declares)")


def _packet_times(container, stream, limits: VideoLimits) -> list[float]:
    """Presentation times (s) of the video track's packets, ascending, from demuxing alone."""
    base, stamps = float(stream.time_base), set()
    try:
        for packet in container.demux(stream):
            stamp = packet.pts if packet.pts is not None else packet.dts
            if packet.size and stamp is not None:
                stamps.add(stamp)
                if len(stamps) > limits.max_frames:
                    break
    except av.FFmpegError:
        pass  # a damaged tail: the packets before it are what there is
    return [s * base for s in sorted(stamps)]


def probe_video(path: str | Path, limits: VideoLimits = VideoLimits()) -> VideoInfo:
    """Duration, frame rate, size, codec and every frame's time, checked against the limits.

    Raises ``MediaError``: ``no_video_stream``, ``corrupt_media`` or ``truncated_media`` (nothing to decode),
    ``video_too_large``, ``video_too_long``. An animated image is probed as a video.
    """
    if _is_image(path):
        return _probe_animation(path, limits)
    with _open(Path(path)) as container:
        stream = container.streams.video[0]
        # Stored size: a portrait phone clip is stored landscape; frames are turned upright when decoded.
        width, height = stream.codec_context.width, stream.codec_context.height
        if width <= 0 or height <= 0:
            raise MediaError(ErrorCode.NO_VIDEO_STREAM, "the file has no video stream")
        _check_pixels(width, height, limits)
        _check_declared_length(stream, limits)
        times = _packet_times(container, stream, limits)
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        codec = stream.codec_context.name
    if not times:
        raise _unreadable(Path(path), "the video track holds no frames")
    step = _frame_step(times, rate)
    duration = times[-1] - times[0] + step
    fps = rate if 0 < rate <= 1000 else len(times) / duration
    info = VideoInfo(duration, fps, width, height, codec, len(times), tuple(times))
    _check_length(info, limits)
    return info


def _is_image(path: str | Path) -> bool:
    with open(path, "rb") as f:
        found = sniff(f.read(SNIFF_BYTES))
    return found is not None and found.kind == "image"


def _probe_animation(path: str | Path, limits: VideoLimits) -> VideoInfo:
    times, (width, height), kind = animation.times(path, limits.max_pixels, limits.max_frames)
    step = _frame_step(times, 0.0) or animation.DEFAULT_FRAME_MS / 1000
    duration = times[-1] + step
    info = VideoInfo(duration, len(times) / duration, width, height, f"animated-{kind}", len(times), tuple(times))
    _check_length(info, limits)
    return info


def _frame_step(times: list[float], rate: float) -> float:
    """How long the last frame stays on screen: the median gap, else one frame at the stated rate."""
    if len(times) > 1:
        return float(np.median(np.diff(times)))
    return 1 / rate if rate > 0 else 0.0


def _check_pixels(width: int, height: int, limits: VideoLimits) -> None:
    if width * height > limits.max_pixels:
        raise MediaError(ErrorCode.VIDEO_TOO_LARGE, f"{width}x{height} is over the limit of "
                                                    f"{limits.max_pixels} pixels per frame")


def _check_declared_length(stream, limits: VideoLimits) -> None:
    """Refuse before demuxing when the video track itself declares more than the limits (the container's
    duration is not used: it may be the audio's)."""
    declared = float(stream.duration * stream.time_base) if stream.duration else 0.0
    if declared > limits.max_duration_s * 1.5 or stream.frames > limits.max_frames * 1.5:
        raise MediaError(ErrorCode.VIDEO_TOO_LONG, f"{declared:.0f} s / {stream.frames} frames is over "
                                                   f"the limit of {limits.max_duration_s:.0f} s")


def _check_length(info: VideoInfo, limits: VideoLimits) -> None:
    if info.duration_s > limits.max_duration_s or info.frame_count > limits.max_frames:
        raise MediaError(ErrorCode.VIDEO_TOO_LONG, f"{info.duration_s:.0f} s / {info.frame_count} frames is over "
                                                   f"the limit of {limits.max_duration_s:.0f} s")


def sample_times(times: list[float] | tuple[float, ...], end: float, frames: int, max_per_second: float,
                 min_frames: int = 1) -> list[int]:
    """Indices into ``times`` (ascending presentation times, s) of ``n`` distinct frames, where ``n`` =
    min(``frames``, the frames there are, max(``min_frames``, seconds x ``max_per_second``)): first the
    frames on screen at ``n`` evenly spread instants of ``[times[0], end)``, then, when a frame held for
    long was on screen at several instants and was taken once, as many of the other frames as it
    swallowed, spread evenly over them in order."""
    if not times:
        return []
    span = end - times[0]
    n = min(frames, len(times), max(min_frames, int(span * max_per_second), 1))
    if n == len(times):
        return list(range(n))
    # Centre each instant in its share of the span so the first and last frames (often fades) are avoided;
    # the epsilon keeps an instant that falls exactly on a frame's time from landing on the frame before.
    on_screen = {max(0, bisect_right(times, times[0] + (i + 0.5) * span / n + 1e-9) - 1) for i in range(n)}
    missing = n - len(on_screen)
    if missing:
        others = [i for i in range(len(times)) if i not in on_screen]
        on_screen |= {others[int((j + 0.5) * len(others) / missing)] for j in range(missing)}
    return sorted(on_screen)


def sample_frames(info: VideoInfo, limits: VideoLimits) -> list[int]:
    """The frames to analyse in a probed video, as indices into ``info.times``."""
    end = info.times[0] + info.duration_s
    return sample_times(info.times, end, limits.frames, limits.max_per_second, limits.min_frames)


def sample_indices(frame_count: int, fps: float, frames: int, max_per_second: float,
                   start: int = 0, stop: int | None = None, min_frames: int = 1) -> list[int]:
    """Frame indices spread evenly over ``[start, stop)`` of a constant-rate clip (see ``sample_times``)."""
    stop = frame_count if stop is None else min(stop, frame_count)
    times = [i / fps for i in range(start, stop)]
    return [start + i for i in sample_times(times, stop / fps, frames, max_per_second, min_frames)]


def iter_frames(path: str | Path, indices: list[int], info: VideoInfo | None = None,
                stats: ReadStats | None = None) -> Iterator[Frame]:
    """Yield each wanted frame (``indices`` into the probed ``times``), decoding in order.

    A wanted frame that does not decode is replaced by the next frame that does (before the next wanted
    one). Frames that fail to decode are skipped and counted in ``stats.undecodable``. Raises
    ``truncated_media`` when decoding failed and nothing decoded after the failure while wanted frames
    were left; ``corrupt_media`` (``truncated_media`` for a file cut short) when no wanted frame decoded at
    all.
    """
    path, stats = Path(path), stats if stats is not None else ReadStats()
    if not indices:
        return
    times = list((info or probe_video(path, VideoLimits(max_duration_s=1e12, max_frames=10**9))).times)
    if _is_image(path):
        yield from (Frame(index, times[index], rgb) for index, rgb in animation.frames(path, indices))
        return
    wanted, last_wanted = sorted(set(indices)), max(indices)
    position, yielded, expected = 0, 0, None  # next wanted; frames yielded; index the next decode should be
    failed = False
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame threads: decoding is most of the cost
        for item in _decode(container, stream, times[wanted[0]]):
            if isinstance(item, Exception):
                failed = True
                continue
            index = _index_of(item, times)
            if expected is not None and index > expected:
                stats.undecodable += index - expected
            expected = index + 1 if expected is None or index >= expected else expected
            failed = False
            if index < wanted[position]:
                continue
            while position < len(wanted) and wanted[position] <= index:
                position += 1
            yielded += 1
            yield Frame(index, times[index], _rgb(item))
            if position == len(wanted) or index >= last_wanted:
                return
    if yielded == 0:
        raise _unreadable(path, "no frame of the video decodes")
    if failed:
        raise MediaError(ErrorCode.TRUNCATED_MEDIA,
                         f"the video cannot be decoded after frame {expected - 1}, before frame {wanted[position]}")


def _decode(container, stream, first_t: float) -> Iterator[av.VideoFrame | Exception]:
    """Decoded frames in presentation order from the keyframe at or before ``first_t``, with each packet's
    or the demuxer's failure yielded in place (the decoder goes on after it)."""
    if first_t > 1.0:
        try:
            container.seek(int(first_t / stream.time_base), stream=stream, backward=True)
        except av.FFmpegError:
            container.seek(0, stream=stream)
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError as exc:  # unreadable data: the demuxer resynchronises on the next call
            yield exc
            continue
        try:
            yield from packet.decode()
        except av.FFmpegError as exc:
            yield exc


def _index_of(frame: av.VideoFrame, times: list[float]) -> int:
    """The decoded frame's position in ``times``: the nearest presentation time."""
    t = frame.time if frame.time is not None else times[0]
    i = bisect_left(times, t)
    if i == len(times) or (i > 0 and t - times[i - 1] < times[i] - t):
        i -= 1
    return i


def _rgb(frame: av.VideoFrame) -> np.ndarray:
    """RGB pixels as shown: the display matrix's rotation (phones store portrait clips landscape) applied."""
    rgb = frame.to_ndarray(format="rgb24")
    quarter_turns = round(frame.rotation / 90) % 4  # counter-clockwise, as np.rot90 turns
    return np.ascontiguousarray(np.rot90(rgb, quarter_turns)) if quarter_turns else rgb
