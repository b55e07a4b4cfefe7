"""Evaluate a classifier on a folder of labelled face crops (``{real,fake}/*.jpg``).

The crops are scored as they are (no face detection): this measures the
classifier, not the detector. The report holds every figure at the model's
threshold, on the split as it is and on a class-balanced resample.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.classifier import FaceClassifier, load_classifier
from pipeline.datasets import labelled_files, resolve_eval_folder
from pipeline.metrics import balanced_indices, binary_report, roc_curve

CHUNK = 256


def score_files(classifier: FaceClassifier, paths: list[str]) -> np.ndarray:
    """Calibrated P(fake) for each image file, read in chunks to keep memory flat."""
    scores = []
    for i in range(0, len(paths), CHUNK):
        crops = [np.asarray(Image.open(p).convert("RGB")) for p in paths[i:i + CHUNK]]
        scores.append(classifier.probabilities(crops))
    return np.concatenate(scores)


def evaluate_folder(data: str | Path, model: str | Path | None = None, plots_dir: str | Path | None = None,
                    limit: int | None = None, seed: int = 0) -> dict:
    folder = resolve_eval_folder(data)
    files = labelled_files(folder)
    paths, labels = np.asarray(files.paths), np.asarray(files.labels)
    if limit is not None and limit < len(paths):
        keep = np.sort(np.random.default_rng(seed).choice(len(paths), limit, replace=False))
        paths, labels = paths[keep], labels[keep]
    classifier = load_classifier(model)
    scores = score_files(classifier, list(paths))
    return build_report(classifier, str(folder), labels, scores, plots_dir, seed)


def build_report(classifier: FaceClassifier, data: str, labels: np.ndarray, scores: np.ndarray,
                 plots_dir: str | Path | None = None, seed: int = 0) -> dict:
    spec = classifier.spec
    report = binary_report(labels, scores, spec.threshold)
    balanced = balanced_indices(labels, seed)
    report["balanced"] = binary_report(labels[balanced], scores[balanced], spec.threshold)
    report["model"] = {"name": spec.name, "version": spec.version, "architecture": spec.architecture,
                       "temperature": spec.temperature, "bands": list(spec.bands)}
    report["data"] = data
    if plots_dir is not None:
        report["plots"] = write_plots(Path(plots_dir), labels, scores, spec.threshold, spec.name)
    return report


def write_plots(out: Path, labels: np.ndarray, scores: np.ndarray, threshold: float, title: str) -> list[str]:
    """ROC curve, confusion matrix and score histogram as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipeline.metrics import confusion, roc_auc

    out.mkdir(parents=True, exist_ok=True)
    written = []

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    fpr, tpr, _ = roc_curve(labels, scores)
    ax.plot(fpr, tpr, label=f"AUC {roc_auc(labels, scores):.3f}")
    ax.plot([0, 1], [0, 1], ls=":", c="grey")
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", title=f"ROC: {title}")
    ax.legend(loc="lower right")
    written.append(_save(fig, out / "roc.png"))

    c = confusion(labels, scores, threshold)
    matrix = np.array([[c["tn"], c["fp"]], [c["fn"], c["tp"]]])
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=14)
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["real", "fake"], yticklabels=["real", "fake"],
           xlabel="predicted", ylabel="actual", title=f"threshold {threshold:.3f}")
    written.append(_save(fig, out / "confusion.png"))

    fig, ax = plt.subplots(figsize=(5, 3.5))
    bins = np.linspace(0, 1, 41)
    ax.hist(scores[labels == 0], bins, alpha=0.6, label="real")
    ax.hist(scores[labels == 1], bins, alpha=0.6, label="fake")
    ax.axvline(threshold, c="k", ls="--", lw=1)
    ax.set(xlabel="calibrated P(fake)", ylabel="faces", title="score histogram")
    ax.legend()
    written.append(_save(fig, out / "histogram.png"))
    return written


def _save(fig, path: Path) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)
