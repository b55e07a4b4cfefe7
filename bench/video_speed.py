"""Video processing speed and peak memory, one CPU core, default sampling (32 frames, ≤ 4/s).

    .venv/bin/python -m bench.video_speed [--clip PATH ...]

With no ``--clip``: the 10 s 1080p DFDC sample from ../shared (when present) and
generated 1080p clips of 10 s and 60 s (one moving face). Each clip runs in its
own process pinned to one core (TensorFlow and OpenCV on one thread); peak
memory is that process's maximum RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED_CLIP = Path(__file__).resolve().parents[2] / "shared/data/video/dfdc-samples/fake/abofeumbvv.mp4"


def run_one(path: str) -> None:
    """In a child process: analyse one clip, print timings and peak RSS as JSON."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import cv2

    cv2.setNumThreads(1)
    from pipeline import analyze_file, load_classifier

    # One thread for whichever runtime runs the model; TensorFlow is imported only if that is Keras.
    classifier = load_classifier(runtime=os.environ.get("DEEPFAKE_INFERENCE_RUNTIME", "auto"), threads=1,
                                 inter_op_threads=1)
    classifier.warm_up()
    start = time.perf_counter()
    result = analyze_file(path, classifier)
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall_s": wall, "duration_s": result["media"]["duration_s"], "timings_ms": result["timings_ms"],
                      "frames_sampled": result["media"]["frames_sampled"], "peak_rss_mb": peak_mb,
                      "size": f"{result['media']['width']}x{result['media']['height']}"}))


def generated_clip(folder: Path, seconds: int) -> Path:
    from tests import media

    path = folder / f"generated-1080p-{seconds}s.mp4"
    fps = 30
    media.write_clip(path, [((100, 300), (1500, 500))], frames=seconds * fps, fps=fps, size=(1920, 1080))
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clip", action="append")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", default="0")
    args = parser.parse_args()
    if args.one:
        run_one(args.one)
        return
    with tempfile.TemporaryDirectory() as tmp:
        clips = [Path(c) for c in args.clip] if args.clip else (
            ([SHARED_CLIP] if SHARED_CLIP.exists() else []) + [generated_clip(Path(tmp), s) for s in (10, 60)])
        print(f"one core (taskset -c {args.cpu}), TensorFlow and OpenCV on one thread, default sampling")
        for clip in clips:
            out = subprocess.run(["taskset", "-c", args.cpu, sys.executable, "-m", "bench.video_speed", "--one",
                                  str(clip)], capture_output=True, text=True, check=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            t = r["timings_ms"]
            print(f"{clip.name}: {r['size']}, {r['duration_s']:.1f} s, {r['frames_sampled']} frames sampled: "
                  f"{r['wall_s']:.2f} s wall = {r['wall_s'] / r['duration_s']:.3f} s per second of video "
                  f"(decode {t['decode']:.0f} ms, detect {t['detect']:.0f} ms, classify {t['classify']:.0f} ms); "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
