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
from pipeline.tracking import Detection, Track, Tracker, iou, track_score
from pipeline.video import ReadStats, VideoInfo, VideoLimits, iter_frames, probe_video, sample_frames

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
        for det, scored in zip(self.owners, self.classifier.score(self.crops), strict=True):
            det.score, det.model_scores = scored.score, scored.model_scores
        self.seconds += time.perf_counter() - start
        self.crops, self.owners = [], []


def min_track_frames(frames_sampled: int) -> int:
    """A person must be seen in this many sampled frames to count: fewer is a passer-by or a false detection.

    Two frames, or a tenth of a long clip's samples; never more than were read, so a one-frame video
    with a face is judged on that frame.
    """
    return max(1, min(frames_sampled, max(2, math.ceil(0.1 * frames_sampled))))


def analyze_video(path: str | Path, classifier: FaceClassifier, limits, video_limits: VideoLimits = VideoLimits(),
                  on_progress: Progress | None = None) -> dict:
    info = probe_video(path, video_limits)
    indices = sample_frames(info, video_limits)
    part = analyze_part(path, info.fps, indices, classifier, limits, on_progress, info)
    return video_result(media_facts(path, info, len(indices)), [part], classifier.spec)


def media_facts(path: str | Path, info: VideoInfo, frames_sampled: int) -> dict:
    from pipeline.analyze import file_sha256

    return {"kind": "video", **info.as_dict(), "frames_sampled": frames_sampled,
            "size_bytes": Path(path).stat().st_size, "sha256": file_sha256(path)}


def plan_segments(info: VideoInfo, indices: list[int], segment_s: float) -> list[list[int]]:
    """The sampled frames split into consecutive time segments of ``segment_s`` seconds."""
    segments: dict[int, list[int]] = {}
    for index in indices:
        segments.setdefault(int((info.times[index] - info.times[0]) // segment_s), []).append(index)
    return [segments[k] for k in sorted(segments)]


def analyze_part(path: str | Path, fps: float, indices: list[int], classifier: FaceClassifier, limits,
                 on_progress: Progress | None = None, info: VideoInfo | None = None) -> dict:
    """Detect, track and classify faces on the given frames (indices into the probed ``VideoInfo.times``).
    A JSON-ready part of a video result; ``skipped`` counts the frames that did not decode.

    ``fps`` is not used for times (each frame's presentation time is read from the stream); it stays for
    the segment plans stored before. ``info`` spares probing the file again. Track IDs are local to the
    part; ``merge_parts`` joins parts into one result.
    """
    tracker, batcher, stats = Tracker(), _Batcher(classifier), ReadStats()
    timings = {"decode": 0.0, "detect": 0.0}
    frames: list[tuple[int, float, list[Detection], list[int]]] = []
    clock = time.perf_counter()
    for done, frame in enumerate(iter_frames(path, indices, info, stats), start=1):
        now = time.perf_counter()
        timings["decode"] += now - clock
        rgb = frame.rgb
        # One scale per frame: the second would add ~2x a 4K clip's detection time over 32 frames.
        faces = detect_faces(rgb, limits.min_face_confidence, limits.detect_max_side, limits.min_face_size,
                             multi_scale=False)
        timings["detect"] += time.perf_counter() - now
        dets = [Detection(frame.index, frame.t, f.box, f.confidence) for f in faces]
        ids = tracker.update(dets)
        for det in dets:
            batcher.add(crop_face(rgb, det.box, classifier.spec.crop_scale), det)
        frames.append((frame.index, frame.t, dets, ids))
        if on_progress:
            on_progress(min(1.0, done / len(indices)))
        clock = time.perf_counter()
    if on_progress and frames:
        on_progress(1.0)  # a missing frame's stand-in may have been the last one wanted
    batcher.flush()
    timings["classify"] = batcher.seconds
    return {
        "frames": [{"frame": index, "t": t, "faces": [{"box": list(d.box), "confidence": d.confidence,
                                                       "score": d.score, "model_scores": d.model_scores,
                                                       "track": tid}
                                                      for d, tid in zip(dets, ids, strict=True)]}
                   for index, t, dets, ids in frames],
        "timings": {k: round(v * 1000, 2) for k, v in timings.items()},
        "skipped": stats.undecodable,
    }


def merge_parts(parts: list[dict], min_iou: float = 0.2) -> tuple[list[Track], list[dict]]:
    """One set of tracks over consecutive parts: a track at the end of a part continues into a
    track at the start of the next when their boxes overlap as the tracker would require."""
    tracks: dict[int, Track] = {}
    frames: list[dict] = []
    next_id, previous_tail = 1, {}
    for part in parts:
        local: dict[int, int] = {}
        for position, entry in enumerate(part["frames"]):
            faces = []
            for face in entry["faces"]:
                det = Detection(entry["frame"], entry["t"], tuple(face["box"]), face["confidence"], face["score"],
                                face.get("model_scores"))
                if face["track"] not in local:
                    joined = _continuation(det, previous_tail, min_iou) if position == 0 else None
                    local[face["track"]] = joined or next_id
                    if joined is None:
                        next_id += 1
                track_id = local[face["track"]]
                tracks.setdefault(track_id, Track(track_id)).detections.append(det)
                faces.append({**face, "track": track_id})
            frames.append({**entry, "faces": faces})
        last = frames[-1]["faces"] if part["frames"] else []
        previous_tail = {f["track"]: tuple(f["box"]) for f in last}
    return [tracks[k] for k in sorted(tracks)], frames


def _continuation(det: Detection, tail: dict[int, tuple], min_iou: float) -> int | None:
    best = max(tail.items(), key=lambda item: iou(item[1], det.box), default=None)
    if best is None or iou(best[1], det.box) < min_iou:
        return None
    del tail[best[0]]  # one continuation per track
    return best[0]


def _model_track_scores(track: Track) -> dict[str, float]:
    """Each model's track score, aggregated over frames as the fused score is."""
    per_frame = [d.model_scores for d in track.detections]
    if not per_frame or any(not m for m in per_frame):
        return {}  # parts analysed before model_scores existed
    return {name: round(track_score([m[name] for m in per_frame]), 4) for name in per_frame[0]}


def _track_summary(track: Track, spec, counted: bool) -> dict:
    scores = [d.score for d in track.detections]
    score = round(track_score(scores), 4)
    best = max(track.detections, key=lambda d: d.confidence)
    return {
        "id": track.id, "score": score, "label": "fake" if score >= spec.threshold else "real",
        "band": band(score, spec.bands), "start_s": round(track.detections[0].t, 3),
        "end_s": round(track.detections[-1].t, 3), "frames": len(track.detections), "counted": counted,
        "box": list(best.box), "detector_confidence": best.confidence, "model_scores": _model_track_scores(track),
    }


def video_result(media: dict, parts: list[dict], spec) -> dict:
    """The video result from its media facts and analysed parts (one part unless split into segments)."""
    from pipeline.analyze import verdict

    tracks, frames = merge_parts(parts)
    # What was read, not what was planned: frames lost to damage cannot show anyone.
    need = min_track_frames(len(frames))
    media = {**media, "frames_read": len(frames), "frames_undecodable": sum(p.get("skipped", 0) for p in parts)}
    summaries = [_track_summary(t, spec, len(t.detections) >= need) for t in tracks]
    counted = [s for s in summaries if s["counted"]]
    timings_ms = {k: round(sum(p["timings"][k] for p in parts), 2) for k in ("decode", "detect", "classify")}
    timings_ms["total"] = round(sum(timings_ms.values()), 2)
    return {
        "kind": "video",
        "sha256": media["sha256"],
        "media": media,
        "verdict": verdict([s["score"] for s in counted], spec.bands),
        "score": max((s["score"] for s in counted), default=None),
        "faces": [{"box": s["box"], "detector_confidence": s["detector_confidence"], "score": s["score"],
                   "model_scores": s["model_scores"], "label": s["label"], "band": s["band"], "track": s["id"]}
                  for s in counted],
        "tracks": summaries,
        "timeline": [
            {"t": round(e["t"], 3), "frame": e["frame"],
             "faces": [{"box": f["box"], "track": f["track"], "score": f["score"],
                        "detector_confidence": f["confidence"]} for f in e["faces"]]}
            for e in frames
        ],
        "detector": detector_name(),
        "model": {"name": spec.name, "version": spec.version, "threshold": spec.threshold, "bands": list(spec.bands)},
        "models": spec.models(),
        "timings_ms": timings_ms,
    }
