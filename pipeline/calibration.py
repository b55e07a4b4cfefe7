"""Fit temperature scaling, the decision threshold and the score bands on validation."""

from __future__ import annotations

import numpy as np

from pipeline.metrics import log_loss, roc_curve


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T > 0 minimising the log loss of sigmoid(logit / T).

    The loss is unimodal in log T, so a golden-section search is enough and
    keeps the pipeline free of an optimiser dependency.
    """
    logits = np.asarray(logits, dtype=np.float64)
    lo, hi = np.log(0.05), np.log(20.0)
    golden = (np.sqrt(5) - 1) / 2

    def loss(log_t: float) -> float:
        return log_loss(labels, sigmoid(logits / np.exp(log_t)))

    for _ in range(80):
        a = hi - golden * (hi - lo)
        b = lo + golden * (hi - lo)
        if loss(a) < loss(b):
            hi = b
        else:
            lo = a
    return float(np.exp((lo + hi) / 2))


def fit_threshold(labels: np.ndarray, probs: np.ndarray) -> float:
    """The threshold maximising balanced accuracy (Youden's J) on validation."""
    fpr, tpr, thresholds = roc_curve(labels, probs)
    best = int(np.argmax(tpr - fpr))
    return float(min(thresholds[best], 1.0))


def fit_bands(threshold: float, width: float = 0.15) -> tuple[float, float]:
    """Edges of the ``uncertain`` band around the threshold.

    Calibrated probabilities within ``width`` of the threshold are too close
    to call; a moderator should look at them rather than trust either label.
    """
    return max(threshold - width, 0.01), min(threshold + width, 0.99)


def band(prob: float, edges: tuple[float, float]) -> str:
    low, high = edges
    if prob >= high:
        return "likely_fake"
    if prob < low:
        return "likely_real"
    return "uncertain"


def threshold_at_fpr(labels: np.ndarray, probs: np.ndarray, max_fpr: float) -> float:
    """The lowest threshold whose false-positive rate on validation is at most ``max_fpr``.

    For a detector whose false alarms cost more than its misses (a real person's photo
    called fake): it catches as many fakes as that false-alarm budget allows.
    """
    fpr, _tpr, thresholds = roc_curve(labels, probs)
    allowed = np.flatnonzero(fpr <= max_fpr)
    return float(min(thresholds[allowed[-1]], 1.0))
