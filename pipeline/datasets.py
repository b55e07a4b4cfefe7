"""Folder datasets: ``{train,val,test}/{real,fake}/*.jpg`` and common spellings.

Labels are 1 for fake, 0 for real throughout the project.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
SPLIT_NAMES = {
    "train": ("train", "Train", "training", "Training"),
    "val": ("val", "Val", "valid", "Valid", "validation", "Validation"),
    "test": ("test", "Test", "testing", "Testing"),
}
CLASS_NAMES = {0: ("real", "Real", "REAL"), 1: ("fake", "Fake", "FAKE")}


@dataclass(frozen=True)
class LabelledFiles:
    paths: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.paths)

    def count(self, label: int) -> int:
        return sum(1 for y in self.labels if y == label)


def _first_existing(root: Path, names: tuple[str, ...]) -> Path | None:
    return next((root / n for n in names if (root / n).is_dir()), None)


def split_dir(root: str | Path, split: str) -> Path | None:
    """The folder of one split under ``root``, whatever its spelling."""
    return _first_existing(Path(root), SPLIT_NAMES[split])


def labelled_files(folder: str | Path) -> LabelledFiles:
    """All images under ``folder/{real,fake}``, sorted so runs are reproducible."""
    folder = Path(folder)
    paths: list[str] = []
    labels: list[int] = []
    for label, names in CLASS_NAMES.items():
        class_dir = _first_existing(folder, names)
        if class_dir is None:
            continue
        files = sorted(p for p in class_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        paths += [str(p) for p in files]
        labels += [label] * len(files)
    if not paths:
        raise FileNotFoundError(f"no images under {folder}/{{real,fake}}")
    return LabelledFiles(paths, labels)


def resolve_eval_folder(path: str | Path) -> Path:
    """``--data`` may name a dataset root (its test split is used) or a split folder."""
    path = Path(path)
    if _first_existing(path, CLASS_NAMES[0]) or _first_existing(path, CLASS_NAMES[1]):
        return path
    test = split_dir(path, "test")
    if test is None:
        raise FileNotFoundError(f"{path} has neither real/fake folders nor a test split")
    return test
