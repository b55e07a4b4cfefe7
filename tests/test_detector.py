"""Detector v2 parts: backbone conversion, self-blended images, fusion, two-head training, family evaluation."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.calibration import sigmoid
from pipeline.fusion import calibrated_logits, fit_platt_max, platt_max
from pipeline.sbi import face_ellipse, self_blend
from tests import media

EGYPTIAN_CAT, ESPRESSO = 285, 967  # ImageNet class indices


def test_backbone_conversion_matches_the_torch_weights():
    from skimage import data

    from pipeline.lite0_convert import check_conversion

    result = check_conversion([data.chelsea(), data.coffee(), data.astronaut()])
    assert result["max_abs_diff"] < 1e-4
    assert result["keras_top1"] == result["torch_top1"]
    assert result["keras_top1"][:2] == [EGYPTIAN_CAT, ESPRESSO]


def test_self_blended_image_changes_only_pixels_inside_its_mask():
    face = media.astronaut()[30:230, 150:350].copy()
    landmarks = [(70, 85), (130, 85), (100, 115), (78, 150), (122, 150)]  # eyes, nose, mouth corners
    for seed in range(5):
        blended, mask = self_blend(face, np.random.default_rng(seed), landmarks=landmarks)
        assert blended.shape == face.shape and blended.dtype == np.uint8
        assert mask.shape == face.shape[:2] and mask.min() >= 0.0 and mask.max() <= 1.0
        changed = np.any(blended != face, axis=2)
        assert changed.any()
        assert not changed[mask == 0].any()  # outside the mask the face is its own
        # The mask sits on the face: centred near the landmarks' centre, not at an image edge.
        ys, xs = np.nonzero(mask > 0.5 * mask.max())
        assert abs(xs.mean() - 100) < 25 and abs(ys.mean() - 120) < 30


def test_face_ellipse_from_a_box_when_there_are_no_landmarks():
    mask = face_ellipse((100, 100), box=(20, 10, 60, 80))
    assert mask[55, 50] == 1.0 and mask[2, 2] == 0.0 and mask[55, 5] == 0.0


def test_platt_max_fusion_on_hand_computed_inputs():
    logits = np.array([[2.0, -4.0], [-1.0, 3.0], [-2.0, -6.0]])
    z = calibrated_logits(logits, [2.0, 3.0])  # -> [[1, -4/3], [-0.5, 1], [-1, -2]]
    np.testing.assert_allclose(z, [[1.0, -4 / 3], [-0.5, 1.0], [-1.0, -2.0]])
    np.testing.assert_allclose(platt_max(z, slope=2.0, intercept=-1.0), sigmoid(np.array([1.0, 1.0, -3.0])))


def test_fusion_fit_recovers_the_scale_that_made_the_labels():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, (20000, 2))
    labels = (rng.random(20000) < sigmoid(1.5 * z.max(axis=1) - 0.5)).astype(int)
    slope, intercept = fit_platt_max(z, labels)
    assert slope == pytest.approx(1.5, rel=0.08) and intercept == pytest.approx(-0.5, abs=0.1)
    with pytest.raises(ValueError):
        fit_platt_max(z, 1 - labels)  # heads that rank fakes below reals cannot be fused


def _make_family(root, blur: bool, n: int = 6):
    """Face crops from the astronaut photo in {train,val,test}/{real,fake}; fakes blurred or tinted
    red all over (easy to learn, so a two-epoch model ranks them and its fusion can be fitted)."""
    rng = np.random.default_rng(1)
    image = media.astronaut()
    for split in ("train", "val", "test"):
        for label in ("real", "fake"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(n):
                x, y = rng.integers(130, 170), rng.integers(10, 40)
                crop = image[y:y + 200, x:x + 200]
                if label == "fake":
                    crop = cv2.GaussianBlur(crop, (9, 9), 3) if blur else crop.copy()
                    crop[..., 0] = 255
                Image.fromarray(crop).save(folder / f"{i}.jpg", quality=90)
    return root


@pytest.fixture(scope="module")
def two_families(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    return [str(_make_family(root / "swaps", blur=True)), str(_make_family(root / "synthetic", blur=False))]


def test_two_head_training_resumes_exports_and_scores_per_model(two_families, tmp_path):
    from pipeline import load_classifier
    from pipeline.detector_training import DetectorConfig, export_detector, train_detector

    cfg = DetectorConfig(data=two_families, out=str(tmp_path / "run"), input_size=64, epochs=1, batch_size=8,
                         variants=1, blends=1, learning_rate=3e-3, name="tiny-two-head", version="0.0.1")
    train_detector(cfg)
    run = tmp_path / "run"
    assert json.loads((run / "state.json").read_text())["epoch"] == 1
    assert (run / "history.csv").exists() and (run / "tb").is_dir() and (run / "cache" / "train.npz").exists()
    cfg.epochs = 2  # resumes from the checkpoint
    train_detector(cfg)
    assert json.loads((run / "state.json").read_text())["epoch"] == 2

    model_dir = export_detector(cfg)
    meta = json.loads((model_dir / "model.json").read_text())
    assert [h["name"] for h in meta["heads"]] == ["blend", "synthetic"] and meta["fusion"]["slope"] > 0
    classifier = load_classifier(model_dir)
    scores = classifier.score([media.astronaut()[20:220, 150:350]] * 2)
    assert set(scores[0].model_scores) == {"tiny-two-head/blend", "tiny-two-head/synthetic"}
    assert all(0 <= s.score <= 1 for s in scores)
    assert [m["name"] for m in classifier.spec.models()] == sorted(scores[0].model_scores)
    # The export also writes the int8 quantization, calibrated on the train splits.
    assert meta["onnx"]["file"] == "model.onnx" and (model_dir / meta["onnx"]["file"]).is_file()
    assert meta["onnx_int8"]["calibration"].endswith("train splits of swaps, synthetic")
    assert load_classifier(model_dir, runtime="onnx-int8").spec.version == "0.0.1+int8"


def test_evaluate_two_roots_reports_each_family_and_all(two_families, tmp_path, capsys):
    from cli.main import main

    out = tmp_path / "report.json"
    assert main(["evaluate", "--data", two_families[0], "--data", two_families[1], "--model", "fast",
                 "--json", str(out), "--table"]) == 0
    report = json.loads(out.read_text())
    assert set(report["by_dataset"]) == {"swaps", "synthetic"}
    assert report["n"] == 24 == sum(r["n"] for r in report["by_dataset"].values())
    for key in ("roc_auc", "tpr_at_fpr_1pct", "tpr_at_fpr_5pct", "ece", "log_loss"):
        assert key in report and key in report["by_dataset"]["swaps"]
    table = capsys.readouterr().out
    assert "swaps" in table and "synthetic" in table and "all" in table


def test_evaluate_with_detection_and_perturbations(tmp_path):
    from pipeline.evaluation import PERTURBATIONS, evaluate_datasets

    photo = media.astronaut()
    for label, image in (("real", photo), ("fake", cv2.GaussianBlur(photo, (0, 0), 2))):
        (tmp_path / "test" / label).mkdir(parents=True)
        Image.fromarray(image).save(tmp_path / "test" / label / "a.jpg")
        Image.fromarray(media.no_face()).save(tmp_path / "test" / label / "empty.jpg")
    report = evaluate_datasets([tmp_path], "fast", detect=True, perturb=True)
    assert report["detect"] is True and (report["n"], report["no_face"]) == (2, 2)
    assert set(report["robustness"]) == set(PERTURBATIONS)


def test_each_face_carries_every_models_score(classifier, tmp_path):
    from pipeline import analyze_file

    path = tmp_path / "astronaut.jpg"
    Image.fromarray(media.astronaut()).save(path)
    result = analyze_file(path, classifier)
    names = [m["name"] for m in result["models"]]
    assert result["faces"] and all(set(f["model_scores"]) == set(names) for f in result["faces"])
    assert all(m["version"] == result["model"]["version"] and m["detects"] for m in result["models"])
