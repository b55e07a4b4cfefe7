"""ONNX Runtime inference: the export matches Keras within 1e-4, and the runtime choice is explicit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

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


def test_a_worker_on_onnx_runtime_never_imports_tensorflow_until_grad_cam_needs_keras():
    # A fresh interpreter: in this one other tests have imported TensorFlow already.
    code = (
        "import sys\n"
        "from workers import runtime\n"
        "classifier = runtime.load()\n"
        "assert classifier.runtime == 'onnxruntime', classifier.runtime\n"
        "assert 'tensorflow' not in sys.modules, 'TensorFlow imported with ONNX Runtime'\n"
        "classifier.model\n"
        "assert 'tensorflow' in sys.modules\n"
        "print('ok')\n"
    )
    env = {**os.environ, "DEEPFAKE_INFERENCE_RUNTIME": "auto", "DEEPFAKE_MODEL_PATH": "default"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]


def test_what_runs_a_model_is_known_before_loading_it(tmp_path):
    from pipeline.classifier import inference_runtime

    assert inference_runtime(None) == "onnxruntime"
    assert inference_runtime("fast", "keras") == "tensorflow"
    model_dir = tmp_path / "model"
    shutil.copytree(FAST_MODEL_DIR, model_dir)
    (model_dir / "model.onnx").unlink()
    assert inference_runtime(model_dir) == "tensorflow"
    with pytest.raises(FileNotFoundError):
        inference_runtime(model_dir, "onnx")


def test_mesonet_weights_refuse_the_onnx_runtime_instead_of_silently_using_keras(tmp_path):
    weights = tmp_path / "Meso4_DF.h5"
    weights.write_bytes(b"")  # refused before the weights are read
    with pytest.raises(ValueError, match="run on Keras only"):
        load_classifier(weights, runtime="onnx")
    from pipeline.classifier import inference_runtime

    assert inference_runtime(weights, "auto") == "tensorflow"


@pytest.fixture(scope="module")
def quantized_fast(exported_fast, tmp_path_factory):
    """A copy of the exported small model with an int8 quantization calibrated on a few DFDC train faces."""
    from pipeline.quantize import quantize_model_dir
    from tests.conftest import shared_path

    model_dir = tmp_path_factory.mktemp("int8") / "model"
    shutil.copytree(exported_fast[0], model_dir)
    record = quantize_model_dir(model_dir, [shared_path("data", "faces", "dfdc")], per_root=16)
    return model_dir, record


def test_int8_quantization_is_recorded_smaller_and_close_to_the_float_model(quantized_fast):
    model_dir, record = quantized_fast
    meta = json.loads((model_dir / "model.json").read_text())
    assert meta["onnx_int8"] == record and record["calibration"].startswith("16 face crops")
    assert (model_dir / "model.int8.onnx").stat().st_size < (model_dir / "model.onnx").stat().st_size / 2
    crops = [_crop(name) for name in DEFAULT_RECORDED]
    exact = load_classifier(model_dir, runtime="onnx").probabilities(crops)
    fast = load_classifier(model_dir, runtime="onnx-int8").probabilities(crops)
    assert np.abs(exact - fast).max() < 0.2  # close, not identical: it runs only when asked
    assert 0 <= record["mean_abs_diff_p"] <= record["max_abs_diff_p"] < 0.5


def test_int8_results_carry_their_own_version_so_dedup_keeps_them_apart(quantized_fast):
    from pipeline.classifier import model_identity

    model_dir, _record = quantized_fast
    name, version = model_identity(model_dir)
    assert model_identity(model_dir, "onnx") == (name, version)
    assert model_identity(model_dir, "onnx-int8") == (name, version + "+int8")
    classifier = load_classifier(model_dir, runtime="onnx-int8")
    assert classifier.spec.version == version + "+int8" and classifier.runtime == "onnxruntime"
    assert classifier.score([_crop(next(iter(DEFAULT_RECORDED)))])[0].model_scores


def test_the_int8_runtime_asks_for_its_export_by_name(exported_fast):
    with pytest.raises(FileNotFoundError, match="no int8 ONNX export"):
        load_classifier(exported_fast[0], runtime="onnx-int8")
