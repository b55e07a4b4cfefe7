"""Export a model directory's Keras model to ONNX, for inference with ONNX Runtime.

    python -m pipeline.onnx_export pipeline/assets/default_model

ONNX Runtime runs the EfficientNet-Lite0 detector about 1.5x faster than TensorFlow on one
CPU core (``bench/model_speed.py``), with the same outputs: the export is checked against
the Keras model and refused beyond ``TOLERANCE``. The Keras model stays the reference and
what Grad-CAM needs (``pipeline/explain.py``). Needs ``tf2onnx`` and ``onnx`` (training
extras); serving needs only ``onnxruntime``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

ONNX_FILE = "model.onnx"
OPSET = 17
TOLERANCE = 1e-4  # largest absolute difference in raw outputs (logits) accepted between Keras and ONNX


def _concrete_function(model, input_size: int):
    import tensorflow as tf

    spec = [tf.TensorSpec((None, input_size, input_size, 3), tf.float32, name="image")]
    fn = tf.function(lambda x: model(x, training=False), input_signature=spec)
    return fn, spec


def _fold_captured_constants(proto, concrete) -> None:
    """Turn constants the graph captured from Python (e.g. Normalization's mean and variance) into
    initializers: tf2onnx leaves them as extra graph inputs, which a caller would have to feed."""
    from onnx import numpy_helper

    captured = {inner.name: outer for outer, inner in concrete.graph.captures if outer.dtype.name != "resource"}
    for graph_input in list(proto.graph.input):
        if graph_input.name in captured:
            value = np.asarray(captured[graph_input.name].numpy())
            proto.graph.initializer.append(numpy_helper.from_array(value, graph_input.name))
            proto.graph.input.remove(graph_input)


def keras_to_onnx(model, input_size: int):
    """An ONNX ``ModelProto`` of a Keras model with one (batch, size, size, 3) float input named ``image``."""
    import tf2onnx

    fn, spec = _concrete_function(model, input_size)
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=OPSET)
    _fold_captured_constants(proto, fn.get_concrete_function())
    return proto


def onnx_session(path: Path, threads: int | None = None):
    """An ONNX Runtime CPU session; ``threads`` caps its intra-op pool (None: ONNX Runtime's default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3  # warnings about unused initialisers are noise here
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def max_difference(model, session, input_size: int, samples: int = 16, seed: int = 0) -> float:
    """Largest |Keras - ONNX| over the raw outputs of ``samples`` random images in [0, 1]."""
    x = np.random.default_rng(seed).random((samples, input_size, input_size, 3), dtype=np.float32)
    expected = np.asarray(model.predict_on_batch(x))
    got = session.run(None, {"image": x})[0]
    return float(np.abs(expected - got).max())


def export_model_dir(model_dir: Path) -> dict:
    """Write ``model_dir/model.onnx`` from ``model.keras`` and record it in ``model.json``.

    Returns the record ``{"file", "opset", "tf2onnx", "max_abs_diff"}``. Raises ``ValueError``
    when the ONNX outputs differ from Keras's by more than ``TOLERANCE`` (nothing is kept then).
    """
    import keras
    import onnx
    import tf2onnx

    meta_file = model_dir / "model.json"
    meta = json.loads(meta_file.read_text())
    size = int(meta["input_size"])
    model = keras.models.load_model(model_dir / "model.keras", compile=False)
    target = model_dir / ONNX_FILE
    onnx.save(keras_to_onnx(model, size), str(target))
    diff = max_difference(model, onnx_session(target, threads=1), size)
    if diff > TOLERANCE:
        target.unlink()
        raise ValueError(f"ONNX outputs differ from Keras by {diff:.2e} (> {TOLERANCE}): not exported")
    record = {"file": ONNX_FILE, "opset": OPSET, "tf2onnx": tf2onnx.__version__, "max_abs_diff": diff}
    meta["onnx"] = record
    meta_file.write_text(json.dumps(meta, indent=2) + "\n")
    return record


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(description="export a model directory's model.keras to model.onnx")
    parser.add_argument("model_dir", type=Path, help="a directory holding model.keras and model.json")
    record = export_model_dir(parser.parse_args().model_dir)
    print(f"wrote {record['file']} (opset {record['opset']}), max |Keras - ONNX| = {record['max_abs_diff']:.2e}")


if __name__ == "__main__":
    main()
