"""Training data for the two-head detector: detector crops, shared degradations, SBI, cached features.

Every image, real or fake, from every dataset goes through the same path: the service's
own face detector and crop (``detect_crop``), the same random re-encoding, resizing and
blur (``degrade``), then the frozen lower half of EfficientNet-Lite0 (stem to stage 5,
``block10_out``). Its outputs are cached as float16 so the upper half can be fine-tuned
for several epochs at the cost of one forward pass per sample: on two CPU cores a full
fine-tune does not fit a working day.

Labels: two heads, each with its own target, -1 meaning "not this head's question":

| sample | ``blend`` head (face swaps, blending) | ``synthetic`` head (GAN faces) |
|---|---|---|
| real face, any dataset | 0 | 0 |
| DFDC face swap | 1 | -1 |
| self-blended image (``pipeline.sbi``) of a real face | 1 | -1 |
| GAN face (``synthetic`` dataset) | -1 | 1 |

A real face and its self-blends are always in the same split (the blends are made from
that split's own reals).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline.datasets import labelled_files, split_dir
from pipeline.faces import crop_face, detect_faces
from pipeline.sbi import self_blend

SPLIT_LAYER = "block10_out"
SPLIT_BLOCK = 11  # the first block trained on cached features
HEADS = ("blend", "synthetic")
# Which head answers for a dataset's fakes; everything else is a blend/swap dataset.
SYNTHETIC_DATASETS = {"synthetic"}


@dataclass(frozen=True)
class Crop:
    rgb: np.ndarray  # uint8 (side, side, 3)
    landmarks: tuple | None  # five (x, y) points in crop pixels, or None
    box: tuple[int, int, int, int]  # the face box in crop pixels
    found: bool  # False when no face was detected and the whole image stands in


def detect_crop(rgb: np.ndarray, crop_scale: float) -> Crop:
    """The largest face cropped as the service crops it (``pipeline.faces.crop_face``).

    When the detector finds no face (tight crops, profile views) the whole image is used,
    so no training image is dropped for the detector's sake.
    """
    faces = detect_faces(rgb)
    height, width = rgb.shape[:2]
    if not faces:
        return Crop(rgb, None, (0, 0, width, height), False)
    face = faces[0]
    x, y, w, h = face.box
    side = max(1, round(max(w, h) * crop_scale))
    x0, y0 = round(x + w / 2 - side / 2), round(y + h / 2 - side / 2)
    marks = None if face.landmarks is None else tuple((px - x0, py - y0) for px, py in face.landmarks)
    return Crop(crop_face(rgb, face.box, crop_scale), marks, (x - x0, y - y0, w, h), True)


def degrade(rgb: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """What re-sharing does to a face, applied alike to every class; returns uint8 (size, size, 3).

    Random horizontal flip; downscale to 35-100 % (half the time); Gaussian blur (one in five);
    JPEG re-encoding at quality 30-95 (seven in ten); then the model's own area resize.
    """
    img = rgb[:, ::-1] if rng.random() < 0.5 else rgb
    height, width = img.shape[:2]
    if rng.random() < 0.5:
        f = rng.uniform(0.35, 1.0)
        img = cv2.resize(img, (max(16, round(width * f)), max(16, round(height * f))), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.2:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.5))
    if rng.random() < 0.7:
        quality = int(rng.integers(30, 96))
        _ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img), [cv2.IMWRITE_JPEG_QUALITY, quality])
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return cv2.resize(np.ascontiguousarray(img), (size, size), interpolation=cv2.INTER_AREA)


def lower_model(input_size: int):
    """Lite0 from the image to ``block10_out`` with the ImageNet weights (needs torch: training only)."""
    import keras

    from pipeline.backbone import copy_weights_by_name, lite0_features
    from pipeline.lite0_convert import converted_lite0

    full = lite0_features(input_size)
    copy_weights_by_name(converted_lite0(input_size), full)
    return keras.Model(full.input, full.get_layer(SPLIT_LAYER).output, name="lite0_lower")


def _targets(dataset: str, label: int) -> tuple[int, int]:
    if label == 0:
        return 0, 0
    return (-1, 1) if dataset in SYNTHETIC_DATASETS else (1, -1)


def _samples(path: str, dataset: str, label: int, crop: Crop, rng, size: int, variants: int, blends: int,
             clean: bool):
    """(image, blend target, synthetic target, is_sbi) tuples for one source image."""
    y = _targets(dataset, label)
    for _ in range(variants):
        if clean:
            img = cv2.resize(crop.rgb, (size, size), interpolation=cv2.INTER_AREA)
        else:
            img = degrade(crop.rgb, rng, size)
        yield img, y[0], y[1], 0
    if label == 0:
        for _ in range(blends):
            fake, _mask = self_blend(crop.rgb, rng, crop.landmarks, crop.box)
            yield degrade(fake, rng, size), 1, -1, 1


def build_split_cache(roots: list[str], split: str, out: Path, *, input_size: int, crop_scale: float,
                      variants: int, blends: int, clean: bool, seed: int, cap: int | None = None,
                      batch: int = 128) -> dict:
    """Write ``out/{split}.npz``: features (N, s, s, 112) float16, targets (N, 2) int8, and per sample
    its dataset index, source-image index and SBI flag. Skips a split already written."""
    target = out / f"{split}.npz"
    if target.exists():
        return json.loads((out / f"{split}.json").read_text())
    from pipeline.threads import limit_threads

    # The detector's OpenMP pool spinning beside TensorFlow's made detection 15-35x slower here.
    limit_threads(1)
    rng = np.random.default_rng(seed)
    model = lower_model(input_size)
    feats, ys, meta, pending = [], [], [], []
    found = missing = 0

    def flush():
        if pending:
            x = np.stack([p[0] for p in pending]).astype(np.float32) / 255.0
            feats.append(np.asarray(model.predict_on_batch(x)).astype(np.float16))
            pending.clear()

    for d, root in enumerate(roots):
        dataset = Path(root).name
        folder = split_dir(root, split)
        if folder is None:
            raise FileNotFoundError(f"{root} has no {split} split")
        files = labelled_files(folder)
        order = np.arange(len(files))
        if cap is not None and len(order) > cap:
            order = np.sort(np.random.default_rng(seed).choice(len(order), cap, replace=False))
        for i in order:
            rgb = cv2.cvtColor(cv2.imread(files.paths[i], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            crop = detect_crop(rgb, crop_scale)
            found, missing = found + crop.found, missing + (not crop.found)
            for img, yb, ys_, sbi in _samples(files.paths[i], dataset, files.labels[i], crop, rng, input_size,
                                              variants, blends, clean):
                pending.append((img,))
                ys.append((yb, ys_))
                meta.append((d, int(i), sbi))
                if len(pending) >= batch:
                    flush()
        print(f"{split}: {dataset} done, {len(ys)} samples so far", flush=True)
    flush()
    meta_arr = np.asarray(meta, np.int32)
    np.savez(target, features=np.concatenate(feats), targets=np.asarray(ys, np.int8),
             dataset=meta_arr[:, 0], source=meta_arr[:, 1], sbi=meta_arr[:, 2])
    info = {"split": split, "samples": len(ys), "faces_found": found, "no_face_whole_image": missing,
            "datasets": [Path(r).name for r in roots]}
    (out / f"{split}.json").write_text(json.dumps(info, indent=2))
    return info
