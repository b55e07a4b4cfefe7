"""Grad-CAM heatmaps (pipeline/explain.py): they point at what raised the fake score, at the crop's size."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pipeline.classifier import FaceClassifier, ModelSpec
from pipeline.explain import gradcam, heatmap_png
from tests import media


def _colour_model(output: str) -> FaceClassifier:
    """A toy model whose fake logit is (red - blue) averaged over the image: red raises it, blue lowers it."""
    import keras

    inputs = keras.Input((32, 32, 3))
    features = keras.layers.Conv2D(2, 1, use_bias=False, name="colours")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(features))
    logit = keras.layers.Dense(1, use_bias=False, name="logit")(pooled)
    model = keras.Model(inputs, logit)
    model.get_layer("colours").set_weights([np.array([[[[1, 0], [0, 0], [0, 1]]]], np.float32)])  # ch0 R, ch1 B
    model.get_layer("logit").set_weights([np.array([[1], [-1]], np.float32)])
    spec = ModelSpec(name="toy", version="0", architecture="toy", input_size=32, output=output)
    return FaceClassifier(model, spec)


def _red_left_blue_right() -> np.ndarray:
    crop = np.zeros((64, 64, 3), np.uint8)
    crop[16:48, 4:28, 0] = 255
    crop[16:48, 36:60, 2] = 255
    return crop


@pytest.mark.parametrize(("output", "hot_side"), [("logit_fake", "left"), ("p_real", "right")])
def test_the_heat_lies_where_the_evidence_for_fake_is(output, hot_side):
    heat = gradcam(_colour_model(output), _red_left_blue_right())
    assert heat.shape == (64, 64) and heat.dtype == np.float32
    left, right = heat[:, :32].mean(), heat[:, 32:].mean()
    hot, cold = (left, right) if hot_side == "left" else (right, left)
    assert hot > 0.2 and cold < 0.05 * hot


def test_the_shipped_model_gives_a_heatmap_the_size_of_the_crop(classifier):
    crop = media.face_patch()[:200, :180]
    heat = gradcam(classifier, crop)
    assert heat.shape == crop.shape[:2]
    assert heat.min() >= 0 and heat.max() <= 1 and heat.max() > 0.5 and heat.std() > 0.01
    png = Image.open(io.BytesIO(heatmap_png(heat)))
    assert png.mode == "RGBA" and png.size == (180, 200)
    alpha = np.asarray(png)[..., 3].astype(float)
    assert np.corrcoef(alpha.ravel(), heat.ravel())[0, 1] > 0.9  # the hotter, the more opaque


def _two_head_colour_model(temperatures: list[float]) -> FaceClassifier:
    """A toy two-head model like the shipped one: head "red" scores the mean red, head "blue" the mean blue."""
    import keras

    inputs = keras.Input((32, 32, 3))
    features = keras.layers.Conv2D(2, 1, use_bias=False, name="colours")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(features))
    logits = keras.layers.Dense(2, use_bias=False, name="heads")(pooled)
    model = keras.Model(inputs, logits)
    model.get_layer("colours").set_weights([np.array([[[[1, 0], [0, 0], [0, 1]]]], np.float32)])
    model.get_layer("heads").set_weights([np.eye(2, dtype=np.float32)])
    heads = [{"name": n, "detects": n, "temperature": t} for n, t in zip(("red", "blue"), temperatures, strict=True)]
    spec = ModelSpec(name="toy2", version="0", architecture="toy", input_size=32, output="head_logits",
                     extra={"heads": heads, "fusion": {"rule": "platt_max", "slope": 1.0, "intercept": 0.0}})
    return FaceClassifier(model, spec)


@pytest.mark.parametrize(("temperatures", "deciding", "hot_side"),
                         [([1.0, 1.0], "red", "left"), ([4.0, 1.0], "blue", "right")])
def test_a_two_head_heatmap_is_the_deciding_heads_after_calibration(temperatures, deciding, hot_side):
    # Twice as much red (left) as blue (right): with equal temperatures the red head's calibrated logit is
    # the maximum the fused score is taken from; a 4x temperature on the red head hands the decision to blue.
    crop = np.zeros((64, 64, 3), np.uint8)
    crop[16:48, 0:28, 0] = 255
    crop[16:48, 48:62, 2] = 255
    classifier = _two_head_colour_model(temperatures)
    scores = classifier.score([crop])[0].model_scores
    assert max(scores, key=scores.get) == f"toy2/{deciding}"
    heat = gradcam(classifier, crop)
    left, right = heat[:, :32].mean(), heat[:, 32:].mean()
    hot, cold = (left, right) if hot_side == "left" else (right, left)
    assert hot > 0.1 and cold < 0.05 * hot


def test_the_shipped_two_head_model_explains_its_deciding_head(classifier):
    # The default model is two-headed: the map follows whichever head's calibrated logit is the larger
    # (the fused score is a rising function of that maximum alone).
    assert [h["name"] for h in classifier.spec.heads] == ["blend", "synthetic"]
    heat = gradcam(classifier, media.face_patch())
    assert heat.max() > 0.5 and heat.std() > 0.01


def test_lime_marks_the_patch_that_raises_the_fake_score():
    from pipeline.lime_map import lime_heat

    classifier = _colour_model("logit_fake")  # red raises the fake logit, blue lowers it
    heat = lime_heat(classifier, _red_left_blue_right(), samples=120)
    assert heat.shape == (32, 32) and heat.dtype == np.float32 and heat.max() == 1.0
    red, blue = heat[8:24, 2:14].mean(), heat[8:24, 18:30].mean()  # the red and blue patches at 32 px
    assert red > 0.5 and blue < 0.1 * red
