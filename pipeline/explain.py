"""Grad-CAM: where in a face crop the evidence for "fake" was found, as a heatmap the size of the crop.

Selvaraju et al. (2017): the gradients of the fake score with respect to the last convolutional feature map,
averaged per channel, weight that map's channels; their weighted sum, kept where positive, is the heatmap.
The target is the model's own fake logit (the fused heads' largest calibrated logit for a multi-head model):
calibration and fusion only rescale it monotonically, which changes nothing once the map is normalised.

What a heatmap can tell: which regions of *this crop* raised *this model's* score. What it cannot: that
those regions were edited, how strongly (it is normalised per face), or anything for a face scored
"likely real" (the map then shows the little evidence there was). Its resolution is that of the last
feature map (e.g. 10 x 10 for a 160 px input), smoothed up to the crop.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.classifier import FaceClassifier
from pipeline.decode import load_image
from pipeline.faces import crop_face

MAX_SIDE = 256  # a heatmap holds 10-20 cells across: a bigger PNG would show no more


@dataclass(frozen=True)
class FaceHeatmap:
    region: list[int]  # [x, y, w, h] in image pixels: the square crop the model saw (may pass the edges)
    png: bytes  # RGBA, at most MAX_SIDE across, to be stretched over ``region``


def _last_feature_layer(model):
    """The last top-level layer with a spatial (rank-4) output: where Grad-CAM reads the feature map."""
    for layer in reversed(model.layers):
        shape = getattr(layer, "output", None) is not None and layer.output.shape
        if shape and len(shape) == 4 and shape[1] and shape[1] > 1:
            return layer
    raise ValueError(f"{model.name} has no spatial feature map for Grad-CAM")


def _target(classifier: FaceClassifier, raw):
    """A quantity that rises with the calibrated P(fake): the logit itself, or its negation for P(real)."""
    import tensorflow as tf

    spec = classifier.spec
    raw = tf.reshape(raw, (tf.shape(raw)[0], -1))
    if spec.heads:
        temperatures = tf.constant([h["temperature"] for h in spec.heads], raw.dtype)
        return tf.reduce_max(raw / temperatures, axis=1)
    return -raw[:, 0] if spec.output == "p_real" else raw[:, 0]


def gradcam(classifier: FaceClassifier, crop: np.ndarray) -> np.ndarray:
    """The Grad-CAM heatmap of one face crop (H, W, 3 uint8), float32 in [0, 1], at the crop's own size."""
    import cv2
    import keras
    import tensorflow as tf

    layer = _last_feature_layer(classifier.model)
    probe = keras.Model(classifier.model.inputs, [layer.output, classifier.model.outputs[0]])
    x = tf.constant(classifier.preprocess([crop]))
    with tf.GradientTape() as tape:
        features, raw = probe(x, training=False)
        target = _target(classifier, raw)
    grads = tape.gradient(target, features)[0].numpy()
    cam = np.maximum((features[0].numpy() * grads.mean(axis=(0, 1))).sum(axis=-1), 0)
    cam = cam / cam.max() if cam.max() > 0 else cam
    return cv2.resize(cam.astype(np.float32), (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def heatmap_png(heat: np.ndarray) -> bytes:
    """The heatmap as an RGBA PNG to lay over the crop: colour from the Turbo map, opacity rising with heat
    (cold regions stay clear, so the face shows through)."""
    import cv2
    from PIL import Image

    levels = (heat * 255).astype(np.uint8)
    rgb = cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_TURBO), cv2.COLOR_BGR2RGB)
    rgba = np.dstack([rgb, (np.sqrt(heat) * 200).astype(np.uint8)])
    out = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(out, format="PNG")
    return out.getvalue()


def crop_region(box: list[int], scale: float) -> list[int]:
    """Where ``crop_face(image, box, scale)`` cuts, in image pixels: the same square, centred on the box."""
    x, y, w, h = box
    side = max(1, round(max(w, h) * scale))
    return [round(x + w / 2 - side / 2), round(y + h / 2 - side / 2), side, side]


def explain_image(path: str | Path, classifier: FaceClassifier, boxes: list[list[int]],
                  max_pixels: int) -> list[FaceHeatmap]:
    """A heatmap for each face box of the image at ``path`` (boxes as the result gives them), in order."""
    image = load_image(path, max_pixels)
    scale = classifier.spec.crop_scale
    return [FaceHeatmap(crop_region(box, scale), explain_crop(classifier, crop_face(image, tuple(box), scale)))
            for box in boxes]


def explain_crop(classifier: FaceClassifier, crop: np.ndarray) -> bytes:
    """The heatmap PNG of one square face crop (as ``crop_face`` cuts it), at most ``MAX_SIDE`` across."""
    import cv2

    heat = gradcam(classifier, crop)
    side = min(MAX_SIDE, heat.shape[0])
    return heatmap_png(cv2.resize(heat, (side, side), interpolation=cv2.INTER_AREA))
