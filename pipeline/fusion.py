"""One verdict from several detectors: Platt-scaled maximum of the calibrated head logits.

Rule (``platt_max``): each head's logit is first divided by its own temperature (fitted on
its own validation family, Guo et al., ICML 2017), then

    P(fake) = sigmoid(slope * max_k(z_k / T_k) + intercept)

with ``slope`` and ``intercept`` fitted by logistic regression (Platt, 1999) on validation
only. Why the maximum and not a learned weighting: a face is fake if *any* specialist
recognises its kind of manipulation, and the fused score must rise whenever one head's
does, also on families no head was trained on; a free logistic stack can give a head a
negative weight that only holds on the visible families. The Platt step turns the maximum
back into a calibrated probability (the maximum of calibrated scores is biased upward).
"""

from __future__ import annotations

import numpy as np

from pipeline.calibration import sigmoid


def calibrated_logits(logits: np.ndarray, temperatures: list[float]) -> np.ndarray:
    """(N, heads) raw logits -> (N, heads) logits divided by each head's temperature (> 0)."""
    return np.asarray(logits, np.float64) / np.asarray(temperatures, np.float64)


def platt_max(z: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """Fused P(fake) in [0, 1], shape (N,), from calibrated head logits ``z`` of shape (N, heads)."""
    return sigmoid(slope * np.max(np.asarray(z, np.float64), axis=1) + intercept)


def fit_platt_max(z: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of ``platt_max`` by logistic regression on validation; labels 1 = fake.

    Nearly unregularised (C = 1e4): the two parameters are fitted on thousands of faces.
    Raises ValueError if the fitted slope is not positive (the heads would then rank
    fakes below reals, and no fusion can mend that).
    """
    from sklearn.linear_model import LogisticRegression

    peak = np.max(np.asarray(z, np.float64), axis=1).reshape(-1, 1)
    fit = LogisticRegression(C=1e4).fit(peak, np.asarray(labels))
    slope, intercept = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    if slope <= 0:
        raise ValueError(f"fusion slope {slope:.3f} is not positive")
    return slope, intercept
