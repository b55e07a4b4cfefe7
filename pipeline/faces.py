"""Face detection and cropping.

Box convention, everywhere in the project: ``(x, y, w, h)`` in pixels of the
source image, ``x, y`` the top-left corner, clipped to the image.

The detector is YuNet (libfacedetection) from the ``yuface`` wheel, which has
its weights compiled in and runs offline. Where that wheel is not available
(it is built for CPython 3.10/3.11 only) OpenCV's Haar cascade, shipped inside
opencv, takes over; it misses more faces, so the result names the detector.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]
    confidence: float
    # Five points in source pixels (right eye, left eye, nose tip, right and left mouth
    # corners, as YuNet orders them); None where the detector gives none (Haar).
    landmarks: tuple[tuple[int, int], ...] | None = None


def _yunet(bgr: np.ndarray, min_confidence: float) -> list[tuple[tuple[float, ...], float, np.ndarray | None]]:
    import yuface

    with warnings.catch_warnings():  # it warns on any input over 640 px; the large scale is meant so
        warnings.filterwarnings("ignore", "Image size", UserWarning)
        confs, boxes, points = yuface.detect(np.ascontiguousarray(bgr), conf=min_confidence)
    # The wheel returns uint16; boxes poking past the top/left edge wrap around.
    boxes, points = boxes.astype(np.int32), points.astype(np.int32)
    boxes[boxes > 32767] -= 65536
    points[points > 32767] -= 65536
    return [(tuple(map(float, b)), float(c) / 100.0, p.reshape(5, 2))
            for b, c, p in zip(boxes, confs, points, strict=True)]


@lru_cache(maxsize=1)
def _haar() -> cv2.CascadeClassifier:
    return cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")


def _haar_detect(bgr: np.ndarray, min_confidence: float) -> list[tuple[tuple[float, ...], float, None]]:
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    boxes = _haar().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
    # Haar gives no score; report 1.0 and let the detector name explain it.
    return [(tuple(map(float, b)), 1.0, None) for b in boxes]


@lru_cache(maxsize=1)
def detector_name() -> str:
    try:
        import yuface  # noqa: F401
    except ImportError:
        return "opencv-haar"
    return "yunet"


# Large photos are searched at a second, larger scale too: on the whole image shrunk to 640 px, a face
# under ~5 % of a 24 MP photo's long side is under ~30 px and missed. One pass at 2048 px brings a 110 px
# face in 6000 px to ~38 px; measured cheaper than 640 px tiles, which overlap (bench/face_scales.py).
LARGE_FROM = 2200  # long side (px) above which the second scale runs; 1080p stays one pass
LARGE_SIDE = 2048


def detect_faces(rgb: np.ndarray, min_confidence: float = 0.6, max_side: int = 640,
                 min_size: int = 24, *, multi_scale: bool = True) -> list[Face]:
    """Faces in an RGB image (H, W, 3) ``uint8``, largest first; boxes in source pixels.

    Detection runs on a copy scaled so its longer side is at most ``max_side``: the cost stays flat as
    resolution grows, and boxes are mapped back to source pixels. Images whose long side exceeds
    ``LARGE_FROM`` are also searched at ``LARGE_SIDE`` (unless ``multi_scale`` is false), and a face found
    at both scales is kept once. Faces smaller than ``min_size`` source pixels are dropped: too small
    to judge.
    """
    height, width = rgb.shape[:2]
    sides = [LARGE_SIDE, max_side] if multi_scale and max(height, width) > LARGE_FROM > max_side else [max_side]
    faces: list[Face] = []
    image, scale = rgb, 1.0
    for side in sides:  # largest first: each copy is shrunk from the one before, not from the source again
        image, scale = _shrink(image, side, scale)
        faces += _detect_at(image, scale, min_confidence)
    kept = [Face(_clip(f.box, width, height), f.confidence, f.landmarks) for f in _merge(faces)]
    kept = [f for f in kept if min(f.box[2], f.box[3]) >= min_size]
    return sorted(kept, key=lambda f: f.box[2] * f.box[3], reverse=True)


def _shrink(image: np.ndarray, side: int, scale: float) -> tuple[np.ndarray, float]:
    """``image`` (at ``scale`` of the source) shrunk so its long side is at most ``side``, with its new scale."""
    height, width = image.shape[:2]
    factor = min(1.0, side / max(height, width))
    if factor == 1.0:
        return image, scale
    size = (round(width * factor), round(height * factor))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale * factor


def _detect_at(small: np.ndarray, scale: float, min_confidence: float) -> list[Face]:
    """One detector pass on ``small`` (the source at ``scale``); boxes in source pixels, not yet clipped."""
    bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
    raw = _yunet(bgr, min_confidence) if detector_name() == "yunet" else _haar_detect(bgr, min_confidence)
    return [Face((round(x / scale), round(y / scale), round(w / scale), round(h / scale)), round(conf, 4),
                 None if points is None else tuple((round(px / scale), round(py / scale)) for px, py in points))
            for (x, y, w, h), conf, points in raw]


def _merge(faces: list[Face], overlap: float = 0.5) -> list[Face]:
    """One face per place: of boxes that overlap by ``overlap`` of the smaller one (the same face seen at
    two scales), the most confident is kept, the larger on a tie."""
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: (f.confidence, f.box[2] * f.box[3]), reverse=True):
        if all(_overlap_of_smaller(face.box, k.box) < overlap for k in kept):
            kept.append(face)
    return kept


def _overlap_of_smaller(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    smaller = min(a[2] * a[3], b[2] * b[3])
    return ix * iy / smaller if smaller > 0 else 0.0


def _clip(box: tuple[float, ...], width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0 = max(0, round(box[0])), max(0, round(box[1]))
    x1, y1 = min(width, round(box[0] + box[2])), min(height, round(box[1] + box[3]))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def crop_face(rgb: np.ndarray, box: tuple[int, int, int, int], scale: float = 1.0) -> np.ndarray:
    """A square crop centred on the box, side ``scale * max(w, h)``, padded at edges.

    Square and centred because classifiers are trained on square face crops;
    edge padding (replicated border) keeps faces at the frame edge centred.
    """
    x, y, w, h = box
    side = max(1, round(max(w, h) * scale))
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    height, width = rgb.shape[:2]
    pad = max(0, -x0, -y0, x0 + side - width, y0 + side - height)
    if pad:
        rgb = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    return rgb[y0:y0 + side, x0:x0 + side]
