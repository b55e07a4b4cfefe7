"""Face detection recall by face size in large photos, one scale against two, on synthetic pastes.

    nice .venv/bin/python -m bench.face_scales [--images 3] [--faces DIR]

Real face crops (DFDC's test/real, else the astronaut's head) are pasted at known places and sizes into
12 MP and 24 MP canvases built from a photo without faces; a paste is found when a detected box's centre
lies inside it. Also prints detection latency on those canvases and on 1080p (one pass either way).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from pipeline import detect_faces

FACES = Path(__file__).resolve().parents[2] / "shared/data/faces/dfdc/test/real"
SIZES = (60, 90, 120, 160, 250, 400)  # pasted crop's side, px
CANVASES = ((4000, 3000), (6000, 4000))


def face_crops(folder: Path, n: int) -> list[np.ndarray]:
    paths = sorted(folder.glob("*.jpg"))[:n] if folder.is_dir() else []
    if paths:
        return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]
    from skimage import data

    return [data.astronaut()[20:240, 150:310]]


def canvas(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    from skimage import data

    width, height = size
    back = cv2.resize(data.coffee(), (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(back.astype(np.int16) + rng.integers(-12, 12, back.shape), 0, 255).astype(np.uint8)


def pasted(size: tuple[int, int], crops: list[np.ndarray], rng: np.random.Generator):
    """A canvas with one crop of each size in its own cell of a 3x2 grid, and the pasted boxes by size."""
    image, (width, height) = canvas(size, rng), size
    boxes = {}
    for cell, side in enumerate(SIZES):
        crop = cv2.resize(crops[rng.integers(len(crops))], (side, side), interpolation=cv2.INTER_AREA)
        cx, cy = (cell % 3) * width // 3, (cell // 3) * height // 2
        x = cx + int(rng.integers(0, width // 3 - side))
        y = cy + int(rng.integers(0, height // 2 - side))
        image[y:y + side, x:x + side] = crop
        boxes[side] = (x, y, side, side)
    return image, boxes


def found(box: tuple[int, int, int, int], faces) -> bool:
    x, y, w, h = box
    return any(x <= f.box[0] + f.box[2] / 2 <= x + w and y <= f.box[1] + f.box[3] / 2 <= y + h for f in faces)


def timed(image: np.ndarray, multi_scale: bool):
    start = time.perf_counter()
    faces = detect_faces(image, multi_scale=multi_scale)
    return faces, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=3, help="canvases per size (default 3)")
    parser.add_argument("--faces", type=Path, default=FACES)
    args = parser.parse_args()
    rng, crops = np.random.default_rng(0), face_crops(args.faces, 50)
    for size in CANVASES:
        hits = {mode: dict.fromkeys(SIZES, 0) for mode in (False, True)}
        seconds = {False: [], True: []}
        for _ in range(args.images):
            image, boxes = pasted(size, crops, rng)
            for mode in (False, True):
                faces, spent = timed(image, mode)
                seconds[mode].append(spent)
                for side, box in boxes.items():
                    hits[mode][side] += found(box, faces)
        print(f"{size[0]}x{size[1]}, {args.images} images, recall by pasted face side (px):")
        for mode, name in ((False, "one scale (640)"), (True, "two scales (640 + 2048)")):
            recall = "  ".join(f"{side}: {hits[mode][side]}/{args.images}" for side in SIZES)
            print(f"  {name:<24} {recall}   median {np.median(seconds[mode]) * 1000:.0f} ms")
    hd = canvas((1920, 1080), rng)
    for mode in (False, True):
        spent = sorted(timed(hd, mode)[1] for _ in range(5))[2]
        print(f"1920x1080, multi_scale={mode}: median {spent * 1000:.0f} ms")


if __name__ == "__main__":
    main()
