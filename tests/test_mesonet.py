"""Meso-4 rebuilt in our code reproduces MesoNet's published scores with its own weights."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.conftest import shared_path

# P(real) measured by the MesoNet authors' loading (Keras load_img: nearest resize to 256, / 255).
EXPECTED_P_REAL = {"real00240": 0.990, "real00772": 0.998, "df00204": 0.041, "df01254": 0.049}


def test_meso4_reproduces_published_scores(mesonet):
    folder = shared_path("data", "faces", "mesonet-samples")
    names = sorted(EXPECTED_P_REAL)
    crops = [np.asarray(Image.open(next(folder.glob(f"*/{n}.jpg"))).convert("RGB")) for n in names]
    p_real = mesonet.raw_outputs(crops)
    for name, got in zip(names, p_real, strict=True):
        assert got == pytest.approx(EXPECTED_P_REAL[name], abs=0.005), name
    # The adapter turns P(real) into P(fake).
    p_fake = mesonet.probabilities(crops)
    np.testing.assert_allclose(p_fake, 1 - p_real, atol=1e-5)
