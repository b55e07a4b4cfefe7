"""Link face detections across sampled frames into tracks, and score each track.

The tracker is greedy IoU matching: at each sampled frame, detections are
matched to the live tracks in order of overlap (highest first) when their
boxes overlap by at least ``min_iou``; a detection left over starts a new
track; a track unmatched for more than ``max_gap`` sampled frames ends.
Sampled frames are far apart (a third of a second at 30 fps and 32 samples
over 10 s), so the threshold is low and a gap of one missed detection is
bridged. Faces that move across the frame faster than that split into two
tracks, which only makes the verdict more cautious.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Box = tuple[int, int, int, int]


@dataclass
class Detection:
    frame: int
    t: float
    box: Box
    confidence: float
    score: float | None = None  # calibrated P(fake), filled in after classification
    model_scores: dict[str, float] | None = None  # each model's own calibrated P(fake), likewise


@dataclass
class Track:
    id: int
    detections: list[Detection] = field(default_factory=list)
    missed: int = 0

    @property
    def last_box(self) -> Box:
        return self.detections[-1].box


def iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    union = aw * ah + bw * bh - w * h
    return w * h / union if union else 0.0


class Tracker:
    def __init__(self, min_iou: float = 0.2, max_gap: int = 2, first_id: int = 1):
        self.min_iou, self.max_gap = min_iou, max_gap
        self.live: list[Track] = []
        self.finished: list[Track] = []
        self._next_id = first_id

    def update(self, detections: list[Detection]) -> list[int]:
        """Assign this frame's detections to tracks; returns the track ID of each detection."""
        pairs = sorted(((iou(t.last_box, d.box), ti, di) for ti, t in enumerate(self.live)
                        for di, d in enumerate(detections)), reverse=True)
        assigned: dict[int, int] = {}
        used_tracks: set[int] = set()
        for overlap, ti, di in pairs:
            if overlap < self.min_iou:
                break
            if ti not in used_tracks and di not in assigned:
                assigned[di] = ti
                used_tracks.add(ti)
        ids = []
        for di, det in enumerate(detections):
            if di in assigned:
                track = self.live[assigned[di]]
            else:
                track = Track(self._next_id)
                self._next_id += 1
                self.live.append(track)
                used_tracks.add(len(self.live) - 1)
            track.detections.append(det)
            track.missed = 0
            ids.append(track.id)
        self._age(used_tracks)
        return ids

    def _age(self, used: set[int]) -> None:
        still = []
        for i, track in enumerate(self.live):
            if i not in used:
                track.missed += 1
            (still if track.missed <= self.max_gap else self.finished).append(track)
        self.live = still

    def tracks(self) -> list[Track]:
        return sorted(self.finished + self.live, key=lambda t: t.id)


def track_score(scores: list[float], high: float = 0.8, low: float = 0.2) -> float:
    """A track's score, robust to a few bad frames (after the DFDC winner's "confident strategy").

    If at least 40 % of the frames are confidently fake (> ``high``), the
    mean of those frames: a face swap often shows only in some frames, and
    averaging them with the clean ones would hide it. Otherwise, if at least
    90 % are confidently real (< ``low``), the mean of those. Otherwise the
    plain mean.
    """
    s = np.asarray(scores, dtype=np.float64)
    fakes, reals = s[s > high], s[s < low]
    if len(fakes) >= max(1, 0.4 * len(s)):
        return float(fakes.mean())
    if len(reals) >= 0.9 * len(s):
        return float(reals.mean())
    return float(s.mean())
