"""Reading a clip's default sample of frames: the pipeline's reader (PyAV, presentation times) against
OpenCV's sequential grab/retrieve (the reader before it) and seeking per sample.

    taskset -c 0 .venv/bin/python -m bench.frame_reading CLIP [--frames 32] [--repeat 3]

Each reader gets the same frame indices; the best of ``--repeat`` runs is printed (a busy machine only
ever makes a run slower). The pipeline's time includes probing (demuxing every packet for its time).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import cv2

from pipeline import VideoLimits, probe_video, sample_frames
from pipeline.video import iter_frames


def opencv_sequential(path: str, indices: list[int]) -> int:
    """The reader before PyAV: ``grab()`` every frame, ``retrieve()`` the sampled ones."""
    cap, wanted, n, index = cv2.VideoCapture(path), set(indices), 0, 0
    while index <= max(indices) and cap.grab():
        if index in wanted:
            ok, bgr = cap.retrieve()
            n += ok and cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) is not None
        index += 1
    cap.release()
    return n


def opencv_seeking(path: str, indices: list[int]) -> int:
    cap, n = cv2.VideoCapture(path), 0
    for index in indices:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, _ = cap.read()
        n += ok
    cap.release()
    return n


def pipeline_reader(path: str, frames: int) -> int:
    """Probe (every packet's time), sample by time, decode: what ``analyze_video`` does."""
    info = probe_video(path)
    return sum(1 for _ in iter_frames(path, sample_frames(info, VideoLimits(frames=frames)), info))


def best_of(repeat: int, read: Callable[[], int]) -> tuple[int, float]:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        n = read()
        runs.append(time.perf_counter() - start)
    return n, min(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("clip")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    info = probe_video(args.clip)
    indices = sample_frames(info, VideoLimits(frames=args.frames))
    print(f"{args.clip}: {info.frame_count} frames, {info.duration_s:.1f} s, {info.width}x{info.height} "
          f"{info.codec}; {len(indices)} sampled")
    for name, read in (("pipeline (PyAV, by time)", lambda: pipeline_reader(args.clip, args.frames)),
                       ("OpenCV grab/retrieve", lambda: opencv_sequential(args.clip, indices)),
                       ("OpenCV seek per sample", lambda: opencv_seeking(args.clip, indices))):
        n, seconds = best_of(args.repeat, read)
        print(f"{name:<26} {n} frames in {seconds:.2f} s")


if __name__ == "__main__":
    main()
