"""An 8-bit integer copy of a model's ONNX export, for users who need speed over exactness.

    python -m pipeline.quantize pipeline/assets/default_model --calibration ../shared/data/faces/dfdc \
        --calibration ../shared/data/faces/synthetic

Static post-training quantization with ONNX Runtime (``onnxruntime.quantization``): weights
int8 per output channel, activations uint8 with ranges measured on real face crops from the
calibration roots' ``train`` split (never validation or test), QDQ format. EfficientNet-Lite
was designed for this (ReLU6, no squeeze-excitation: Tan & Le, "EfficientNet-Lite", TensorFlow
Model Garden 2020), and on one CPU core with VNNI the int8 graph runs about 1.6x faster.

The int8 model's scores are *not* the float model's: differences of a few hundredths in
probability are expected, so it runs only when asked (``DEEPFAKE_INFERENCE_RUNTIME=onnx-int8``)
and reports its own version (``<version>+int8``), which keeps deduplicated results apart.
Its measured differences are recorded in ``model.json`` and the model card.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

INT8_FILE = "model.int8.onnx"


def calibration_crops(roots: list[str | Path], input_size: int, crop_scale: float, per_root: int = 128,
                      seed: int = 0) -> np.ndarray:
    """Face crops from each root's ``train`` split, as the classifier sees them.

    Returns float32 (N, input_size, input_size, 3) in [0, 1], N <= per_root x len(roots), real and
    fake images alike, drawn at random with ``seed``. Raises ``FileNotFoundError`` for a root without
    a train split.
    """
    import cv2

    from pipeline.datasets import labelled_files, split_dir
    from pipeline.detector_data import detect_crop

    crops = []
    for root in roots:
        folder = split_dir(root, "train")
        if folder is None:
            raise FileNotFoundError(f"{root} has no train split")
        paths = labelled_files(folder).paths
        chosen = np.random.default_rng(seed).choice(len(paths), min(per_root, len(paths)), replace=False)
        for i in sorted(chosen):
            bgr = cv2.imread(paths[i], cv2.IMREAD_COLOR)
            if bgr is None:
                continue
            crop = detect_crop(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), crop_scale).rgb
            crops.append(cv2.resize(crop, (input_size, input_size), interpolation=cv2.INTER_AREA))
    return np.stack(crops).astype(np.float32) / 255.0


class _Batches:
    """ONNX Runtime's calibration reader: the crops in batches of ``size``."""

    def __init__(self, x: np.ndarray, size: int = 16):
        self._batches = iter([{"image": x[i:i + size]} for i in range(0, len(x), size)])

    def get_next(self):
        return next(self._batches, None)


# The first convolutions stay in float: they see raw pixels, and their rounding error compounds
# through every later block. Measured on the validation splits (2.1.0, --detect): all int8,
# ROC-AUC 0.903 (float 0.906); first four convolutions in float, 0.905, still ~1.6x float's speed.
FLOAT_CONVS = 4


def quantize_onnx(source: Path, target: Path, crops: np.ndarray, float_convs: int = FLOAT_CONVS) -> None:
    """Write the static int8 (QDQ, per-channel) quantization of ``source`` to ``target``.

    ``crops``: float32 (N, size, size, 3) in [0, 1], the activation-range calibration set;
    ``float_convs``: how many of the first Conv nodes stay in float.
    """
    import tempfile

    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    CalibrationDataReader.register(_Batches)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared))  # shape inference and folding, as the tool advises
        convs = [n.name for n in onnx.load(str(prepared)).graph.node if n.op_type == "Conv"]
        quantize_static(str(prepared), str(target), _Batches(crops), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=convs[:float_convs])


def quantize_model_dir(model_dir: Path, roots: list[str | Path], per_root: int = 128) -> dict:
    """Write ``model_dir/model.int8.onnx`` from its ``model.onnx`` and record it in ``model.json``.

    Returns the record ``{"file", "calibration", "onnxruntime", "max_abs_diff_p", "mean_abs_diff_p"}``:
    the differences are in calibrated P(fake) between the float and int8 exports over the
    calibration crops. Raises ``FileNotFoundError`` when the model has no ONNX export.
    """
    import onnxruntime

    from pipeline.classifier import load_classifier

    meta_file = model_dir / "model.json"
    meta = json.loads(meta_file.read_text())
    if "onnx" not in meta or not (model_dir / meta["onnx"]["file"]).is_file():
        raise FileNotFoundError(f"{model_dir} has no ONNX export (python -m pipeline.onnx_export {model_dir})")
    crops = calibration_crops(roots, int(meta["input_size"]), float(meta.get("crop_scale", 1.15)), per_root)
    quantize_onnx(model_dir / meta["onnx"]["file"], model_dir / INT8_FILE, crops)
    meta["onnx_int8"] = {"file": INT8_FILE}  # completed below, once measured
    meta_file.write_text(json.dumps(meta, indent=2) + "\n")
    images = list((crops * 255).round().astype(np.uint8))
    exact = load_classifier(model_dir, runtime="onnx", threads=1).probabilities(images)
    fast = load_classifier(model_dir, runtime="onnx-int8", threads=1).probabilities(images)
    diff = np.abs(np.asarray(exact) - np.asarray(fast))
    record = {"file": INT8_FILE, "onnxruntime": onnxruntime.__version__, "float_convs": FLOAT_CONVS,
              "calibration": f"{len(crops)} face crops from the train splits of "
                             + ", ".join(Path(r).name for r in roots),
              "max_abs_diff_p": round(float(diff.max()), 4), "mean_abs_diff_p": round(float(diff.mean()), 4)}
    meta["onnx_int8"] = record
    meta_file.write_text(json.dumps(meta, indent=2) + "\n")
    return record


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(description="write an int8 copy of a model directory's ONNX export")
    parser.add_argument("model_dir", type=Path, help="a directory holding model.onnx and model.json")
    parser.add_argument("--calibration", action="append", required=True,
                        help="a labelled dataset root with a train split (repeatable)")
    parser.add_argument("--per-root", type=int, default=128, help="calibration images per root (default 128)")
    args = parser.parse_args()
    record = quantize_model_dir(args.model_dir, args.calibration, args.per_root)
    print(f"wrote {record['file']} ({record['calibration']}); |float - int8| in P(fake): "
          f"max {record['max_abs_diff_p']}, mean {record['mean_abs_diff_p']}")


if __name__ == "__main__":
    main()
