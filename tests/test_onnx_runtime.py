"""ONNX Runtime inference: the export matches Keras within 1e-4, and the runtime choice is explicit."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest

from pipeline import load_classifier
from pipeline.classifier import FAST_MODEL_DIR
from pipeline.explain import gradcam
from pipeline.onnx_export import TOLERANCE, export_model_dir
from tests.test_default_model import DEFAULT_RECORDED, _crop


@pytest.fixture(scope="module")
def exported_fast(tmp_path_factory):
    """A copy of the small sepnet model with a fresh ONNX export beside it."""
    model_dir = tmp_path_factory.mktemp("fast") / "model"
    shutil.copytree(FAST_MODEL_DIR, model_dir)
    (model_dir / "model.onnx").unlink(missing_ok=True)
    record = export_model_dir(model_dir)
    return model_dir, record


def _face_like_crops(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.integers(0, 256, (100 + 9 * i, 100 + 9 * i, 3), dtype=np.uint8) for i in range(n)]


def test_export_records_itself_and_has_one_input(exported_fast):
    model_dir, record = exported_fast
    assert record["max_abs_diff"] <= TOLERANCE
    assert json.loads((model_dir / "model.json").read_text())["onnx"] == record
    # Normalization's mean and variance are folded in: a caller feeds the image only.
    assert [i.name for i in onnx.load(str(model_dir / "model.onnx")).graph.input] == ["image"]


def test_onnx_and_keras_scores_agree(exported_fast):
    model_dir, _record = exported_fast
    fast_onnx = load_classifier(model_dir)  # auto: the export is there
    fast_keras = load_classifier(model_dir, runtime="keras")
    assert (fast_onnx.runtime, fast_keras.runtime) == ("onnxruntime", "tensorflow")
    crops = _face_like_crops(37)  # more than one batch, and a ragged last one
    assert np.abs(fast_onnx.raw_outputs(crops) - fast_keras.raw_outputs(crops)).max() <= TOLERANCE
    assert [s.label for s in fast_onnx.score(crops)] == [s.label for s in fast_keras.score(crops)]


def test_runtime_choice_is_explicit(tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(FAST_MODEL_DIR, model_dir)
    (model_dir / "model.onnx").unlink(missing_ok=True)
    meta = json.loads((model_dir / "model.json").read_text())
    meta.pop("onnx", None)
    (model_dir / "model.json").write_text(json.dumps(meta))
    assert load_classifier(model_dir).runtime == "tensorflow"  # auto without an export
    with pytest.raises(FileNotFoundError, match="no ONNX export"):
        load_classifier(model_dir, runtime="onnx")
    with pytest.raises(ValueError, match="inference runtime"):
        load_classifier(model_dir, runtime="tflite")


def test_grad_cam_still_works_on_an_onnx_classifier(exported_fast):
    model_dir, _record = exported_fast
    classifier = load_classifier(model_dir)
    assert classifier.session is not None
    heat = gradcam(classifier, _face_like_crops(1)[0])
    assert heat.ndim == 2 and np.isfinite(heat).all()


def test_shipped_default_runs_its_export_and_matches_keras_on_recorded_faces():
    assert load_classifier(None).runtime == "onnxruntime"
    crops = [_crop(name) for name in DEFAULT_RECORDED]
    via_onnx = load_classifier(None, runtime="onnx").raw_outputs(crops)
    via_keras = load_classifier(None, runtime="keras").raw_outputs(crops)
    assert np.abs(via_onnx - via_keras).max() <= TOLERANCE


def test_a_model_copied_without_its_export_runs_on_keras(tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(FAST_MODEL_DIR, model_dir)
    (model_dir / "model.onnx").unlink()  # model.json still names the export
    assert load_classifier(model_dir).runtime == "tensorflow"
    with pytest.raises(FileNotFoundError, match="ONNX export not found"):
        load_classifier(model_dir, runtime="onnx")
