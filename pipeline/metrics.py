"""Detection metrics, computed with scikit-learn. ``labels``: 1 = fake; ``scores``: P(fake)."""

from __future__ import annotations

import numpy as np

EPS = 1e-7


def _both_classes(labels: np.ndarray) -> bool:
    return len(np.unique(np.asarray(labels))) == 2


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive rates, true-positive rates and thresholds (scikit-learn), ties grouped.

    Every distinct score is a threshold (``drop_intermediate=False``), so a threshold picked
    from this curve is one the data actually has. The first threshold is +inf.
    """
    from sklearn.metrics import roc_curve as sk_roc_curve

    fpr, tpr, thresholds = sk_roc_curve(np.asarray(labels, np.int64), np.asarray(scores, np.float64),
                                        drop_intermediate=False)
    return fpr, tpr, thresholds


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC-AUC in [0, 1] (scikit-learn ``roc_auc_score``); None when only one class is present."""
    from sklearn.metrics import roc_auc_score

    if not _both_classes(labels):
        return None
    return float(roc_auc_score(np.asarray(labels, np.int64), np.asarray(scores, np.float64)))


def eer(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Equal error rate: where the false-positive and false-negative rates cross; None with one class."""
    if not _both_classes(labels):
        return None
    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1.0 - tpr
    i = int(np.argmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2.0)


def tpr_at_fpr(labels: np.ndarray, scores: np.ndarray, max_fpr: float) -> float | None:
    """The highest true-positive rate at a false-positive rate of at most ``max_fpr``; None with one class."""
    if not _both_classes(labels):
        return None
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(tpr[fpr <= max_fpr].max())


def log_loss(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean binary cross-entropy in nats (scikit-learn ``log_loss``), probabilities clipped to [1e-7, 1 - 1e-7]."""
    from sklearn.metrics import log_loss as sk_log_loss

    p = np.clip(np.asarray(probs, dtype=np.float64), EPS, 1 - EPS)
    return float(sk_log_loss(np.asarray(labels, np.int64), p, labels=[0, 1]))


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, bins: int = 10) -> float:
    """ECE (Guo et al., ICML 2017): |mean P(fake) - fraction fake| over equal-width bins, weighted by size.

    The per-bin means come from scikit-learn's ``calibration_curve`` (uniform strategy), which
    drops empty bins; the weights count the same bins.
    """
    from sklearn.calibration import calibration_curve

    y = np.asarray(labels, dtype=np.int64)
    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    if not _both_classes(y):
        return float(abs(p.mean() - y.mean()))
    frac_fake, mean_prob = calibration_curve(y, p, n_bins=bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], p), minlength=bins)  # sklearn's own binning
    weights = counts[counts > 0] / len(p)
    return float(np.sum(weights * np.abs(mean_prob - frac_fake)))


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
    """Every figure the model card and ``deepfake evaluate`` report; figures are None with no sample."""
    if len(labels) == 0:
        return {"n": 0, "n_fake": 0, "n_real": 0, "threshold": float(threshold),
                **dict.fromkeys(("roc_auc", "accuracy", "precision", "recall", "f1", "tnr", "log_loss", "eer",
                                 "tpr_at_fpr_1pct", "tpr_at_fpr_5pct", "ece", "confusion"))}
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
        "tpr_at_fpr_1pct": tpr_at_fpr(labels, probs, 0.01),
        "tpr_at_fpr_5pct": tpr_at_fpr(labels, probs, 0.05),
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
