"""Evaluate a classifier on labelled image folders (``{real,fake}/*.jpg``), one or several.

Without ``detect`` each image is scored as it is, as a face crop: this measures the
classifier, not the detector. With ``detect`` the service's own face detector and crop run
first (the largest face of each image), so whole photos are scored as users' uploads
are; images where no face is found are counted (``no_face``) and left out of the metrics.
The report holds every figure at the model's threshold for the combined set at its top
level (as before), on a class-balanced resample, and per dataset under ``by_dataset``.
``perturb`` adds a robustness sweep: the same images re-encoded, downscaled or blurred.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from pipeline.classifier import FaceClassifier, load_classifier
from pipeline.datasets import labelled_files, resolve_eval_folder
from pipeline.metrics import balanced_indices, binary_report, roc_curve

CHUNK = 256


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    _ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _downscale(rgb: np.ndarray, factor: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (max(8, round(w * factor)), max(8, round(h * factor))), interpolation=cv2.INTER_AREA)


# What re-shared media goes through; each applied alone to the whole image before detection.
def _blur(rgb: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(rgb, (0, 0), sigma)


PERTURBATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    **{f"jpeg_q{q}": partial(_jpeg, quality=q) for q in (90, 70, 50, 30)},
    **{f"downscale_{f}": partial(_downscale, factor=f) for f in (0.75, 0.5, 0.25)},
    **{f"blur_sigma{s}": partial(_blur, sigma=s) for s in (1.0, 2.0)},
}


def _face_or_none(classifier: FaceClassifier, rgb: np.ndarray) -> np.ndarray | None:
    from pipeline.faces import crop_face, detect_faces

    faces = detect_faces(rgb)
    return crop_face(rgb, faces[0].box, classifier.spec.crop_scale) if faces else None


def score_files(classifier: FaceClassifier, paths: list[str], detect: bool = False,
                perturb: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Calibrated P(fake) per image file, shape (N,); NaN where ``detect`` found no face.

    Images are read in chunks of ``CHUNK`` to keep memory flat.
    """
    scores = []
    for i in range(0, len(paths), CHUNK):
        images = [np.asarray(Image.open(p).convert("RGB")) for p in paths[i:i + CHUNK]]
        if perturb is not None:
            images = [perturb(im) for im in images]
        crops = [_face_or_none(classifier, im) for im in images] if detect else images
        found = [c for c in crops if c is not None]
        chunk = np.full(len(crops), np.nan)
        chunk[[j for j, c in enumerate(crops) if c is not None]] = classifier.probabilities(found) if found else []
        scores.append(chunk)
    return np.concatenate(scores) if scores else np.zeros(0)


def dataset_name(data: str | Path) -> str:
    """``dfdc`` for a dataset root, ``dfdc/test`` style for a split folder inside one."""
    path = Path(data).resolve()
    folder = resolve_eval_folder(path)
    return path.name if folder != path else f"{path.parent.name}/{path.name}"


def _load(data: str | Path, limit: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    files = labelled_files(resolve_eval_folder(data))
    paths, labels = np.asarray(files.paths), np.asarray(files.labels)
    if limit is not None and limit < len(paths):
        keep = np.sort(np.random.default_rng(seed).choice(len(paths), limit, replace=False))
        paths, labels = paths[keep], labels[keep]
    return paths, labels


def _scored_report(classifier: FaceClassifier, labels: np.ndarray, scores: np.ndarray) -> dict:
    found = ~np.isnan(scores)
    report = binary_report(labels[found], scores[found], classifier.spec.threshold)
    report["no_face"] = int((~found).sum())
    return report


def evaluate_datasets(datas: list[str | Path], model: str | Path | None = None, *, detect: bool = False,
                      perturb: bool = False, plots_dir: str | Path | None = None, limit: int | None = None,
                      seed: int = 0, runtime: str = "auto") -> dict:
    """Metrics per dataset (``by_dataset``) and for all of them together (top level).

    ``runtime`` as for ``load_classifier`` (``onnx-int8`` measures the int8 quantization); the
    report names the model's version and the runtime that scored it.
    ``limit`` caps the images per dataset (a seeded random subset). With ``perturb`` the report
    gains ``robustness``: perturbation name -> ROC-AUC, recall and false-positive rate at the
    threshold, on the combined set. Raises FileNotFoundError for a folder without images.
    """
    from pipeline.threads import limit_threads

    limit_threads(1)  # the detector's OpenMP pool must not spin against TensorFlow's threads
    classifier = load_classifier(model, runtime=runtime)
    loaded = {dataset_name(d): _load(d, limit, seed) for d in datas}
    labels = np.concatenate([lab for _p, lab in loaded.values()])
    by_dataset, scores = {}, []
    for name, (paths, lab) in loaded.items():
        s = score_files(classifier, list(paths), detect)
        by_dataset[name] = _scored_report(classifier, lab, s)
        scores.append(s)
    scores = np.concatenate(scores)
    found = ~np.isnan(scores)
    if not found.any():
        raise ValueError("no face was found in any image: nothing to evaluate (try without --detect)")
    report = build_report(classifier, ", ".join(loaded), labels[found], scores[found], plots_dir, seed)
    report.update(no_face=int((~found).sum()), detect=detect, by_dataset=by_dataset,
                  model_version=classifier.spec.version, runtime=classifier.runtime)
    if perturb:
        paths = [str(p) for ps, _l in loaded.values() for p in ps]
        report["robustness"] = {}
        for name, fn in PERTURBATIONS.items():
            r = _scored_report(classifier, labels, score_files(classifier, paths, detect, fn))
            report["robustness"][name] = {k: r[k] for k in ("roc_auc", "recall", "tnr", "no_face")}
    return report


def evaluate_folder(data: str | Path, model: str | Path | None = None, plots_dir: str | Path | None = None,
                    limit: int | None = None, seed: int = 0) -> dict:
    """One folder, crops scored as they are: ``evaluate_datasets`` with a single dataset."""
    return evaluate_datasets([data], model, plots_dir=plots_dir, limit=limit, seed=seed)


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
