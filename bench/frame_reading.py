"""Sequential grab/retrieve against seeking per sample, for the default sampling of a clip.

    taskset -c 0 .venv/bin/python -m bench.frame_reading CLIP [--frames 32]
"""

from __future__ import annotations

import argparse
import time

import cv2

from pipeline import probe_video, sample_indices
from pipeline.video import iter_frames


def by_seeking(path: str, indices: list[int]) -> int:
    cap = cv2.VideoCapture(path)
    n = 0
    for index in indices:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, _ = cap.read()
        n += ok
    cap.release()
    return n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("clip")
    parser.add_argument("--frames", type=int, default=32)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    info = probe_video(args.clip)
    indices = sample_indices(info.frame_count, info.fps, args.frames, 4.0)
    for name, read in (("sequential grab/retrieve", lambda: sum(1 for _ in iter_frames(args.clip, indices))),
                       ("seek per sample", lambda: by_seeking(args.clip, indices))):
        start = time.perf_counter()
        n = read()
        print(f"{name:<26} {n} frames in {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
