"""Training end to end on a tiny generated dataset: train, resume, export, load, evaluate."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline import load_classifier
from pipeline.training import TrainConfig, train
from tests import media


def _make_dataset(root, splits=("Train", "Validation", "Test"), classes=("Real", "Fake"), n=8):
    """Face crops from the astronaut photo; the 'fakes' are blurred, an easy artefact."""
    rng = np.random.default_rng(0)
    image = media.astronaut()
    for split in splits:
        for label in classes:
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(n):
                x, y = rng.integers(150, 200), rng.integers(40, 80)
                crop = image[y:y + 128, x:x + 128]
                if label == "Fake":
                    crop = cv2.GaussianBlur(crop, (9, 9), 3)
                Image.fromarray(crop).save(folder / f"{i}.jpg", quality=90)
    return root


@pytest.fixture
def tiny_config(tmp_path):
    data = _make_dataset(tmp_path / "data")
    return TrainConfig(data=str(data), out=str(tmp_path / "run"), input_size=32, epochs=1, batch_size=8,
                       patience=3, name="tiny", version="0.0.1")


def test_train_one_epoch_then_resume_and_load(tiny_config, tmp_path):
    model_dir = train(tiny_config)
    run = tmp_path / "run"
    assert json.loads((run / "state.json").read_text())["epoch"] == 1
    assert (run / "history.csv").exists() and (run / "tb").is_dir()
    assert json.loads((run / "config.json").read_text())["seed"] == tiny_config.seed

    tiny_config.epochs = 2  # resumes from the checkpoint instead of starting over
    train(tiny_config)
    assert json.loads((run / "state.json").read_text())["epoch"] == 2

    meta = json.loads((model_dir / "model.json").read_text())
    assert meta["output"] == "logit_fake" and meta["temperature"] > 0
    assert meta["bands"][0] < meta["threshold"] < meta["bands"][1] or meta["threshold"] in (0.0, 1.0)
    classifier = load_classifier(model_dir)
    scores = classifier.probabilities([media.astronaut()[60:180, 170:290]] * 3)
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))


def test_fine_tune_from_an_existing_model(tiny_config, tmp_path):
    base = train(tiny_config)
    tuned = TrainConfig(**{**tiny_config.__dict__, "out": str(tmp_path / "tuned"), "init_model": str(base)})
    assert (train(tuned) / "model.keras").exists()


def test_evaluate_report_and_plots(tiny_config, tmp_path):
    from pipeline.evaluation import evaluate_folder

    model_dir = train(tiny_config)
    report = evaluate_folder(tiny_config.data, model_dir, plots_dir=tmp_path / "plots")
    for key in ("n", "roc_auc", "accuracy", "precision", "recall", "f1", "tnr", "log_loss", "eer", "ece",
                "threshold"):
        assert key in report
    assert report["n"] == 16 and report["balanced"]["n"] == 16
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["confusion.png", "histogram.png", "roc.png"]
