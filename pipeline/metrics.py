"""Detection metrics in plain numpy. ``labels``: 1 = fake; ``scores``: P(fake)."""

from __future__ import annotations

import numpy as np

EPS = 1e-7


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive rates, true-positive rates and thresholds, ties grouped."""
    labels = np.asarray(labels, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    last_of_tie = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tps = np.cumsum(y)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    tpr = np.r_[0.0, tps / max(int(y.sum()), 1)]
    fpr = np.r_[0.0, fps / max(int(len(y) - y.sum()), 1)]
    return fpr, tpr, np.r_[np.inf, s[last_of_tie]]


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(np.trapezoid(tpr, fpr))


def eer(labels: np.ndarray, scores: np.ndarray) -> float:
    """Equal error rate: where the false-positive and false-negative rates cross."""
    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1.0 - tpr
    i = int(np.argmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2.0)


def log_loss(labels: np.ndarray, probs: np.ndarray) -> float:
    p = np.clip(np.asarray(probs, dtype=np.float64), EPS, 1 - EPS)
    y = np.asarray(labels, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, bins: int = 10) -> float:
    """ECE over equal-width bins of P(fake), weighted by bin size."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            total += in_bin.mean() * abs(p[in_bin].mean() - y[in_bin].mean())
    return float(total)


def confusion(labels: np.ndarray, probs: np.ndarray, threshold: float) -> dict[str, int]:
    y = np.asarray(labels).astype(bool)
    pred = np.asarray(probs) >= threshold
    return {
        "tp": int((pred & y).sum()),
        "fp": int((pred & ~y).sum()),
        "tn": int((~pred & ~y).sum()),
        "fn": int((~pred & y).sum()),
    }


def _ratio(num: int, den: int) -> float:
    return float(num / den) if den else 0.0


def binary_report(labels: np.ndarray, probs: np.ndarray, threshold: float) -> dict:
    """Every figure the model card and ``deepfake evaluate`` report."""
    c = confusion(labels, probs, threshold)
    precision = _ratio(c["tp"], c["tp"] + c["fp"])
    recall = _ratio(c["tp"], c["tp"] + c["fn"])
    return {
        "n": len(labels),
        "n_fake": int(np.sum(labels)),
        "n_real": int(len(labels) - np.sum(labels)),
        "threshold": float(threshold),
        "roc_auc": roc_auc(labels, probs),
        "accuracy": _ratio(c["tp"] + c["tn"], len(labels)),
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * c["tp"], 2 * c["tp"] + c["fp"] + c["fn"]),
        "tnr": _ratio(c["tn"], c["tn"] + c["fp"]),
        "log_loss": log_loss(labels, probs),
        "eer": eer(labels, probs),
        "ece": expected_calibration_error(labels, probs),
        "confusion": c,
    }


def balanced_indices(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Indices of a class-balanced subsample: the larger class is cut at random."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    n = min(len(pos), len(neg))
    picked = np.r_[rng.choice(pos, n, replace=False), rng.choice(neg, n, replace=False)]
    return np.sort(picked)
