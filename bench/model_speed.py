"""Classifier throughput in faces per second, batch 1 and 32, on one thread.

    taskset -c 0 .venv/bin/python -m bench.model_speed [--model DIR] [--runtime auto|onnx|onnx-int8|keras]

``--runtime`` as ``DEEPFAKE_INFERENCE_RUNTIME``: ``auto`` uses ONNX Runtime when the model has
an ONNX export, ``onnx-int8`` its int8 quantization (``pipeline/quantize.py``), ``keras`` TensorFlow.
Preprocessed input (resize to the model size is measured separately). Each
configuration runs for a fixed time after a warm-up; the median of 5 rounds is
printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pipeline.classifier import RUNTIMES  # noqa: E402 - after the log level, which TensorFlow reads at import


def _rate(fn, batch, seconds: float) -> float:
    fn(batch)
    rounds = []
    for _ in range(5):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 5:
            fn(batch)
            n += len(batch)
        rounds.append(n / (time.perf_counter() - start))
    return statistics.median(rounds)


def _runtime_name(clf) -> str:
    if clf.session is not None:
        import onnxruntime

        return f"ONNX Runtime {onnxruntime.__version__}"
    import tensorflow as tf

    return f"TensorFlow {tf.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runtime", default="auto", choices=list(RUNTIMES))
    args = parser.parse_args()

    import numpy as np

    from pipeline import load_classifier

    clf = load_classifier(args.model, runtime=args.runtime, threads=args.threads, inter_op_threads=1)
    size = clf.spec.input_size
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (224, 224, 3), dtype=np.uint8) for _ in range(32)]
    print(f"model {clf.spec.name} {clf.spec.version}, input {size}x{size}, "
          f"{clf.model.count_params()} parameters, {_runtime_name(clf)}, {args.threads} thread(s)")
    for bs in (1, 32):
        x = clf.preprocess(crops[:bs])
        rate = _rate(clf.predict_batch, x, args.seconds)
        print(f"{clf.runtime:<12} batch {bs:>2}: {rate:7.0f} faces/s")
    start = time.perf_counter()
    for _ in range(20):
        clf.preprocess(crops)
    print(f"preprocess (224->{size} resize, 32 crops): {(time.perf_counter() - start) / 20 * 1000:.1f} ms per batch")


if __name__ == "__main__":
    main()
