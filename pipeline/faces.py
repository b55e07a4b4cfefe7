"""Face detection and cropping.

Box convention, everywhere in the project: ``(x, y, w, h)`` in pixels of the
source image, ``x, y`` the top-left corner, clipped to the image.

The detector is YuNet (libfacedetection) from the ``yuface`` wheel, which has
its weights compiled in and runs offline. Where that wheel is not available
(it is built for CPython 3.10/3.11 only) OpenCV's Haar cascade, shipped inside
opencv, takes over; it misses more faces, so the result names the detector.
"""

from __future__ import annotations

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


def detect_faces(rgb: np.ndarray, min_confidence: float = 0.6, max_side: int = 640,
                 min_size: int = 24) -> list[Face]:
    """Faces in an RGB image, largest first.

    Detection runs on a copy scaled so its longer side is at most ``max_side``:
    the cost stays flat as resolution grows, and boxes are mapped back to
    source pixels. Faces smaller than ``min_size`` source pixels are dropped:
    too small to judge.
    """
    height, width = rgb.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    small = rgb if scale == 1.0 else cv2.resize(rgb, (round(width * scale), round(height * scale)),
                                                interpolation=cv2.INTER_AREA)
    bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
    raw = _yunet(bgr, min_confidence) if detector_name() == "yunet" else _haar_detect(bgr, min_confidence)
    faces = []
    for (x, y, w, h), conf, points in raw:
        box = _clip((x / scale, y / scale, w / scale, h / scale), width, height)
        if min(box[2], box[3]) >= min_size:
            marks = None if points is None else tuple((round(px / scale), round(py / scale)) for px, py in points)
            faces.append(Face(box, round(conf, 4), marks))
    return sorted(faces, key=lambda f: f.box[2] * f.box[3], reverse=True)


def _clip(box: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
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
