"""The shipped model loads and scores as its model card records (a regression check, not a quality claim)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipeline import DEFAULT_MODEL_DIR, ModelSpec
from tests.conftest import shared_path

# Calibrated P(fake) recorded in pipeline/assets/default_model/MODEL_CARD.md.
RECORDED = {"df00204": 0.0281, "df01254": 0.576, "real00240": 0.0085, "real00772": 0.0393}


def test_shipped_model_metadata():
    spec = ModelSpec.from_json(DEFAULT_MODEL_DIR / "model.json")
    assert (spec.name, spec.output, spec.input_size) == ("sepnet-dfdc", "logit_fake", 160)
    assert spec.bands[0] < spec.threshold < spec.bands[1]
    assert (DEFAULT_MODEL_DIR / "model.keras").stat().st_size < 20 * 1024 * 1024


def test_shipped_model_scores_as_recorded(classifier):
    folder = shared_path("data", "faces", "mesonet-samples")
    for name, expected in RECORDED.items():
        crop = np.asarray(Image.open(next(folder.glob(f"*/{name}.jpg"))).convert("RGB"))
        assert classifier.probabilities([crop])[0] == pytest.approx(expected, abs=1e-3), name
