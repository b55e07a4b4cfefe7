"""Self-blended images (SBI): synthetic face-swap training fakes made from one real face.

Method: Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images" (CVPR 2022),
re-implemented from the paper (the authors' code is research-only and was not used).
A real face is blended with a slightly altered copy of itself inside a soft face mask:

1. Source-target generator: the source is the same face after a colour change (RGB and
   HSV shifts, brightness/contrast) and a frequency change (downsample-upsample blur or
   sharpening), then a small resize and translation; the target is the face untouched.
2. Mask generator: a face region (here an ellipse fitted to YuNet's five landmarks, or
   to the detector box when there are none: the paper uses the landmark convex hull),
   randomly deformed, eroded or dilated, blurred, and scaled by a blend ratio.
3. Blend: ``target * (1 - mask) + source * mask``.

The model then has to learn what every face swap leaves behind (a blending boundary,
colour and sharpness mismatch) rather than one generator's fingerprint.
"""

from __future__ import annotations

import cv2
import numpy as np

BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)  # the paper's choice: full blends most often


def face_ellipse(shape: tuple[int, int], landmarks=None, box=None) -> np.ndarray:
    """A filled ellipse (float32 in [0, 1], shape ``shape``) over the inner face.

    From five landmarks (eyes, nose, mouth corners: pixels of this image) when given,
    else from a face box ``(x, y, w, h)``, else the central 60 % of the image.
    """
    height, width = shape
    if landmarks is not None:
        pts = np.asarray(landmarks, np.float32).reshape(5, 2)
        eyes, mouth = pts[:2].mean(0), pts[3:].mean(0)
        eye_dist = float(np.linalg.norm(pts[0] - pts[1]))
        centre = (eyes + mouth) / 2 + (mouth - eyes) * 0.1
        axes = (max(eye_dist * 1.05, 4.0), max(float(np.linalg.norm(mouth - eyes)) * 1.25, 4.0))
        angle = float(np.degrees(np.arctan2(pts[1, 1] - pts[0, 1], pts[1, 0] - pts[0, 0])))
    elif box is not None:
        x, y, w, h = box
        centre, axes, angle = np.array([x + w / 2, y + h * 0.55]), (w * 0.42, h * 0.5), 0.0
    else:
        centre, axes, angle = np.array([width / 2, height / 2]), (width * 0.3, height * 0.3), 0.0
    mask = np.zeros(shape, np.float32)
    cv2.ellipse(mask, (round(centre[0]), round(centre[1])), (round(axes[0]), round(axes[1])), angle, 0, 360, 1.0, -1)
    return mask


def _deform_mask(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random elastic warp, erosion or dilation, then a Gaussian blur: a soft, irregular edge."""
    height, width = mask.shape
    side = max(height, width)
    # A coarse random displacement field, upsampled, bends the ellipse's outline.
    grid = rng.normal(0, side * 0.03, (2, 4, 4)).astype(np.float32)
    dx, dy = (cv2.resize(g, (width, height), interpolation=cv2.INTER_CUBIC) for g in grid)
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    mask = cv2.remap(mask, xs + dx, ys + dy, cv2.INTER_LINEAR, borderValue=0)
    k = int(rng.integers(1, max(2, side // 20)))
    kernel = np.ones((k, k), np.uint8)
    mask = cv2.erode(mask, kernel) if rng.random() < 0.5 else cv2.dilate(mask, kernel)
    sigma = side * rng.uniform(0.01, 0.05)
    mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    peak = float(mask.max())
    return mask / peak if peak > 0 else mask


def _alter_source(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The source face: colour and frequency changed, then slightly resized and shifted."""
    img = rgb.astype(np.float32)
    img += rng.uniform(-20, 20, 3).astype(np.float32)  # RGB shift
    hsv = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv += np.array([rng.uniform(-5, 5), rng.uniform(-20, 20), rng.uniform(-20, 20)], np.float32)
    hsv[..., 0] %= 180
    img = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    img = (img - 128) * rng.uniform(0.85, 1.15) + 128 + rng.uniform(-15, 15)  # contrast, brightness
    height, width = rgb.shape[:2]
    if rng.random() < 0.5:  # downsample-upsample: a blurrier source, as a low-resolution swap is
        f = rng.uniform(0.4, 0.8)
        small = cv2.resize(img, (max(4, round(width * f)), max(4, round(height * f))), interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    else:  # unsharp mask: a sharper source
        img = cv2.addWeighted(img, 1.6, cv2.GaussianBlur(img, (0, 0), 1.5), -0.6, 0)
    scale = rng.uniform(0.95, 1.05)
    shift = rng.uniform(-0.03, 0.03, 2) * (width, height)
    matrix = np.array([[scale, 0, (1 - scale) * width / 2 + shift[0]],
                       [0, scale, (1 - scale) * height / 2 + shift[1]]], np.float32)
    img = cv2.warpAffine(img, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)
    return np.clip(img, 0, 255)


def self_blend(rgb: np.ndarray, rng: np.random.Generator, landmarks=None, box=None) -> tuple[np.ndarray, np.ndarray]:
    """One self-blended fake from a real face crop.

    Args: ``rgb`` uint8 (H, W, 3); ``landmarks`` five (x, y) points or ``box`` (x, y, w, h) in
    the crop's pixels (see ``face_ellipse``). Returns ``(blended, mask)``: uint8 (H, W, 3) of
    the same size, and the float32 blend mask in [0, 1], shape (H, W); pixels where the mask
    is 0 are the input's own.
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    mask = _deform_mask(face_ellipse(rgb.shape[:2], landmarks, box), rng)
    mask *= float(rng.choice(BLEND_RATIOS))
    source = _alter_source(rgb, rng)
    out = rgb.astype(np.float32) * (1 - mask[..., None]) + source * mask[..., None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), mask
