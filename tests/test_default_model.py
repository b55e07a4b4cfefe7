"""The shipped models load and score as their model cards record (a regression check, not a quality claim)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipeline import DEFAULT_MODEL_DIR, ModelSpec, load_classifier
from pipeline.classifier import FAST_MODEL_DIR
from tests.conftest import shared_path

# Calibrated P(fake) recorded in pipeline/assets/default_model/MODEL_CARD.md: the four MesoNet samples and
# four synthetic/test images, each scored whole as a face crop (no detection).
DEFAULT_RECORDED = {
    "mesonet-samples/fake/df00204.jpg": 0.5378,
    "mesonet-samples/fake/df01254.jpg": 0.4854,
    "mesonet-samples/real/real00240.jpg": 0.2914,
    "mesonet-samples/real/real00772.jpg": 0.2617,
    "synthetic/test/fake/tpdne1024_000_0002.jpg": 0.5404,
    "synthetic/test/fake/tpdne128_cv_f0001.jpg": 0.991,
    "synthetic/test/real/ffhq128_69001.jpg": 0.4528,
    "synthetic/test/real/london_neutral_004.jpg": 0.132,
}
# Recorded in pipeline/assets/fast_model/MODEL_CARD.md (sepnet-dfdc 1.0.0).
FAST_RECORDED = {
    "mesonet-samples/fake/df00204.jpg": 0.0281,
    "mesonet-samples/fake/df01254.jpg": 0.576,
    "mesonet-samples/real/real00240.jpg": 0.0085,
    "mesonet-samples/real/real00772.jpg": 0.0393,
}


def _crop(relative: str) -> np.ndarray:
    return np.asarray(Image.open(shared_path("data", "faces", *relative.split("/"))).convert("RGB"))


def test_default_model_metadata():
    spec = ModelSpec.from_json(DEFAULT_MODEL_DIR / "model.json")
    assert (spec.name, spec.output, spec.input_size) == ("lite0-blend-synthetic", "head_logits", 192)
    assert [h["name"] for h in spec.heads] == ["blend", "synthetic"]
    assert spec.bands[0] < spec.threshold < spec.bands[1]
    assert (DEFAULT_MODEL_DIR / "model.keras").stat().st_size < 25 * 1024 * 1024


def test_default_model_scores_as_recorded(classifier):
    for name, expected in DEFAULT_RECORDED.items():
        assert classifier.probabilities([_crop(name)])[0] == pytest.approx(expected, abs=1e-3), name


def test_fast_model_is_the_sepnet_and_scores_as_recorded():
    spec = ModelSpec.from_json(FAST_MODEL_DIR / "model.json")
    assert (spec.name, spec.output, spec.input_size) == ("sepnet-dfdc", "logit_fake", 160)
    fast = load_classifier("fast")
    for name, expected in FAST_RECORDED.items():
        assert fast.probabilities([_crop(name)])[0] == pytest.approx(expected, abs=1e-3), name
