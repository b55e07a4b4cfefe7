"""Video in, result dict out: probe → sample frames → detect → track → classify → per-person verdicts.

The result keeps every field of an image result (``faces`` holds one entry
per person on screen) and adds ``media`` details, ``tracks`` and ``timeline``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipeline.calibration import band
from pipeline.classifier import FaceClassifier
from pipeline.faces import crop_face, detect_faces, detector_name
from pipeline.tracking import Detection, Track, Tracker, track_score
from pipeline.video import VideoLimits, iter_frames, probe_video, sample_indices

Progress = Callable[[float], None]


class _Batcher:
    """Collects face crops across frames and classifies them 32 at a time."""

    def __init__(self, classifier: FaceClassifier):
        self.classifier = classifier
        self.crops: list[np.ndarray] = []
        self.owners: list[Detection] = []
        self.seconds = 0.0

    def add(self, crop: np.ndarray, detection: Detection) -> None:
        self.crops.append(crop)
        self.owners.append(detection)
        if len(self.crops) >= self.classifier.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.crops:
            return
        start = time.perf_counter()
        for det, p in zip(self.owners, self.classifier.probabilities(self.crops), strict=True):
            det.score = round(float(p), 4)
        self.seconds += time.perf_counter() - start
        self.crops, self.owners = [], []


def min_track_frames(frames_sampled: int) -> int:
    """A person must be seen in this many sampled frames to count: fewer is a passer-by or a false detection."""
    return max(2, math.ceil(0.1 * frames_sampled))


def analyze_video(path: str | Path, classifier: FaceClassifier, limits, video_limits: VideoLimits = VideoLimits(),
                  on_progress: Progress | None = None) -> dict:
    info = probe_video(path, video_limits)
    indices = sample_indices(info.frame_count, info.fps, video_limits.frames, video_limits.max_per_second)
    tracker, batcher = Tracker(), _Batcher(classifier)
    timings = {"decode": 0.0, "detect": 0.0}
    frames: list[tuple[int, float, list[Detection], list[int]]] = []
    clock = time.perf_counter()
    for done, (index, rgb) in enumerate(iter_frames(path, indices), start=1):
        now = time.perf_counter()
        timings["decode"] += now - clock
        faces = detect_faces(rgb, limits.min_face_confidence, limits.detect_max_side, limits.min_face_size)
        timings["detect"] += time.perf_counter() - now
        t = index / info.fps
        dets = [Detection(index, t, f.box, f.confidence) for f in faces]
        ids = tracker.update(dets)
        for det in dets:
            batcher.add(crop_face(rgb, det.box, classifier.spec.crop_scale), det)
        frames.append((index, t, dets, ids))
        if on_progress:
            on_progress(done / len(indices))
        clock = time.perf_counter()
    batcher.flush()
    timings["classify"] = batcher.seconds
    return video_result(path, info, len(frames), tracker.tracks(), frames, classifier, timings)


def _track_summary(track: Track, spec, counted: bool) -> dict:
    scores = [d.score for d in track.detections]
    score = round(track_score(scores), 4)
    best = max(track.detections, key=lambda d: d.confidence)
    return {
        "id": track.id, "score": score, "label": "fake" if score >= spec.threshold else "real",
        "band": band(score, spec.bands), "start_s": round(track.detections[0].t, 3),
        "end_s": round(track.detections[-1].t, 3), "frames": len(track.detections), "counted": counted,
        "box": list(best.box), "detector_confidence": best.confidence,
    }


def video_result(path, info, frames_sampled: int, tracks: list[Track], frames, classifier, timings) -> dict:
    from pipeline.analyze import file_sha256, verdict

    spec = classifier.spec
    need = min_track_frames(frames_sampled)
    summaries = [_track_summary(t, spec, len(t.detections) >= need) for t in tracks]
    counted = [s for s in summaries if s["counted"]]
    timings_ms = {k: round(v * 1000, 2) for k, v in timings.items()}
    timings_ms["total"] = round(sum(timings_ms.values()), 2)
    sha256 = file_sha256(path)
    return {
        "kind": "video",
        "sha256": sha256,
        "media": {"kind": "video", **info.as_dict(), "frames_sampled": frames_sampled,
                  "size_bytes": Path(path).stat().st_size, "sha256": sha256},
        "verdict": verdict([s["score"] for s in counted], spec.bands),
        "score": max((s["score"] for s in counted), default=None),
        "faces": [{"box": s["box"], "detector_confidence": s["detector_confidence"], "score": s["score"],
                   "label": s["label"], "band": s["band"], "track": s["id"]} for s in counted],
        "tracks": summaries,
        "timeline": [
            {"t": round(t, 3), "frame": index,
             "faces": [{"box": list(d.box), "track": tid, "score": d.score, "detector_confidence": d.confidence}
                       for d, tid in zip(dets, ids, strict=True)]}
            for index, t, dets, ids in frames
        ],
        "detector": detector_name(),
        "model": {"name": spec.name, "version": spec.version, "threshold": spec.threshold, "bands": list(spec.bands)},
        "timings_ms": timings_ms,
    }
