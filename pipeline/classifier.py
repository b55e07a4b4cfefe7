"""The model contract: a Keras model plus the metadata that says how to use it.

A model directory holds ``model.keras`` and ``model.json`` (and, where exported,
``model.onnx``: the same model for ONNX Runtime, ``pipeline/onnx_export.py``). The metadata
names the input size, the resize method, the crop margin, what the output
means (``logit_fake``, ``p_fake``, ``p_real``, or ``head_logits`` for a model
with several detector heads), the calibration temperature, the decision
threshold and the edges of the ``uncertain`` band. Scores leaving this module
are always the calibrated probability that the face is fake.

A multi-head model lists its ``heads`` (name, what it detects, temperature) and
the ``fusion`` rule that makes one score of them (``pipeline.fusion``); each face
then also carries ``model_scores``: head name -> that head's calibrated P(fake).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from pipeline.calibration import band, sigmoid
from pipeline.threads import configure_tensorflow

DEFAULT_MODEL_DIR = Path(__file__).parent / "assets" / "default_model"
# The small SepNet face-swap model (sepnet-dfdc 1.0.0): ~3x faster, weaker on anything but DFDC swaps.
FAST_MODEL_DIR = Path(__file__).parent / "assets" / "fast_model"
MODEL_ALIASES = {"default": DEFAULT_MODEL_DIR, "fast": FAST_MODEL_DIR}


def _pil_nearest(crop: np.ndarray, size: int) -> np.ndarray:
    # Keras' image loader resizes with Pillow's NEAREST; OpenCV's nearest picks
    # other pixels, which moves MesoNet's published scores by up to 0.02.
    return np.asarray(Image.fromarray(crop).resize((size, size), Image.NEAREST))


_RESIZE = {
    "area": lambda c, s: cv2.resize(c, (s, s), interpolation=cv2.INTER_AREA),
    "bilinear": lambda c, s: cv2.resize(c, (s, s), interpolation=cv2.INTER_LINEAR),
    "nearest": _pil_nearest,
}
_OUTPUTS = ("logit_fake", "p_fake", "p_real", "head_logits")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    version: str
    architecture: str
    input_size: int
    output: str
    threshold: float = 0.5
    temperature: float = 1.0
    bands: tuple[float, float] = (0.35, 0.65)
    resize: str = "area"
    crop_scale: float = 1.0
    extra: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, path: Path) -> ModelSpec:
        raw = json.loads(path.read_text())
        known = {k: raw.pop(k) for k in list(raw) if k in cls.__dataclass_fields__ and k != "extra"}
        known["bands"] = tuple(known.get("bands", (0.35, 0.65)))
        spec = cls(**known, extra=raw)
        if spec.output not in _OUTPUTS or spec.resize not in _RESIZE:
            raise ValueError(f"{path}: unknown output {spec.output!r} or resize {spec.resize!r}")
        if spec.output == "head_logits" and (not spec.heads or spec.extra.get("fusion", {}).get("rule") != "platt_max"):
            raise ValueError(f"{path}: a head_logits model needs heads and a platt_max fusion")
        return spec

    @property
    def heads(self) -> list[dict]:
        """Each detector head: ``name``, ``detects``, ``temperature``; empty for a one-output model."""
        return list(self.extra.get("heads", []))

    def models(self) -> list[dict]:
        """What the result's ``models`` lists: name, version and what each detector looks for."""
        if not self.heads:
            return [{"name": self.name, "version": self.version, "detects": self.extra.get("detects", "face swaps")}]
        return [{"name": f"{self.name}/{h['name']}", "version": self.version, "detects": h["detects"]}
                for h in self.heads]


@dataclass(frozen=True)
class FaceScore:
    score: float  # calibrated P(fake), fused over heads
    label: str  # "fake" or "real" at the model's threshold
    band: str  # likely_real | uncertain | likely_fake
    model_scores: dict[str, float] = field(default_factory=dict)  # model name -> its calibrated P(fake)


class FaceClassifier:
    """Scores face crops in batches. Not thread-safe (Keras inference is not).

    ``model`` is the Keras model, or a function that loads it: with an ONNX Runtime
    ``session`` the Keras model is needed only for Grad-CAM and is loaded on first use.
    """

    def __init__(self, model, spec: ModelSpec, batch_size: int = 32, session=None):
        self._model = model
        self.spec = spec
        self.batch_size = batch_size
        self.session = session

    @property
    def model(self):
        """The Keras model (loaded now if it was deferred)."""
        if callable(self._model) and not hasattr(self._model, "predict_on_batch"):
            self._model = self._model()
        return self._model

    @property
    def runtime(self) -> str:
        """``onnxruntime`` or ``tensorflow``: what runs inference."""
        return "onnxruntime" if self.session is not None else "tensorflow"

    def predict_batch(self, x: np.ndarray) -> np.ndarray:
        """Raw model outputs for a preprocessed batch (N, size, size, 3) float32 in [0, 1]."""
        if self.session is not None:
            return self.session.run(None, {"image": x})[0]
        return np.asarray(self.model.predict_on_batch(x))

    def fit(self, crop: np.ndarray) -> np.ndarray:
        """The crop resized to the model's input, as a copy: it no longer holds on to the whole frame."""
        size = self.spec.input_size
        if crop.shape[:2] == (size, size):
            return np.array(crop)
        return _RESIZE[self.spec.resize](crop, size)

    def preprocess(self, crops: list[np.ndarray]) -> np.ndarray:
        return np.stack([self.fit(c) for c in crops]).astype(np.float32) / 255.0

    def buckets(self) -> list[int]:
        """Batch sizes inputs are padded to: each new input shape costs a graph trace (~0.3 s)."""
        sizes = [b for b in (1, 4, 8, 16) if b < self.batch_size]
        return [*sizes, self.batch_size]

    def raw_outputs(self, crops: list[np.ndarray]) -> np.ndarray:
        """The model's own outputs, batched; ``predict_on_batch`` avoids ``predict``'s per-call cost."""
        outs = []
        for i in range(0, len(crops), self.batch_size):
            x = self.preprocess(crops[i:i + self.batch_size])
            padded = next(b for b in self.buckets() if b >= len(x))
            if padded > len(x) and self.session is None:  # ONNX Runtime has no per-shape trace to save
                x = np.concatenate([x, np.zeros((padded - len(x), *x.shape[1:]), x.dtype)])
            raw = self.predict_batch(x)
            outs.append(raw.reshape(len(raw), -1)[: len(crops[i:i + self.batch_size])])
        width = max(1, len(self.spec.heads))
        out = np.concatenate(outs) if outs else np.zeros((0, width), np.float32)
        return out if self.spec.heads else out.reshape(-1)

    def head_logits(self, crops: list[np.ndarray]) -> np.ndarray:
        """Calibrated logits per head, shape (N, heads); only for ``head_logits`` models."""
        from pipeline.fusion import calibrated_logits

        return calibrated_logits(self.raw_outputs(crops), [h["temperature"] for h in self.spec.heads])

    def fuse(self, z: np.ndarray) -> np.ndarray:
        """Fused calibrated P(fake), shape (N,), from ``head_logits`` output."""
        from pipeline.fusion import platt_max

        fusion = self.spec.extra["fusion"]
        return platt_max(z, fusion["slope"], fusion["intercept"])

    def probabilities(self, crops: list[np.ndarray]) -> np.ndarray:
        """Calibrated P(fake) per crop, shape (N,), in [0, 1]; fused over heads where there are several."""
        if self.spec.heads:
            return self.fuse(self.head_logits(crops)) if crops else np.zeros(0)
        raw = self.raw_outputs(crops).astype(np.float64)
        if self.spec.output == "logit_fake":
            logit = raw
        else:
            p = np.clip(raw if self.spec.output == "p_fake" else 1.0 - raw, 1e-7, 1 - 1e-7)
            logit = np.log(p / (1 - p))
        return sigmoid(logit / self.spec.temperature)

    def score(self, crops: list[np.ndarray]) -> list[FaceScore]:
        """One ``FaceScore`` per crop, with each model's (head's) own calibrated P(fake)."""
        names = [m["name"] for m in self.spec.models()]
        if self.spec.heads:
            z = self.head_logits(crops) if crops else np.zeros((0, len(names)))
            fused, per_model = self.fuse(z), sigmoid(z)
        else:
            fused = self.probabilities(crops)
            per_model = fused.reshape(-1, 1)
        return [
            FaceScore(round(float(p), 4), "fake" if p >= self.spec.threshold else "real", band(p, self.spec.bands),
                      {n: round(float(q), 4) for n, q in zip(names, row, strict=True)})
            for p, row in zip(fused, per_model, strict=True)
        ]

    def warm_up(self) -> None:
        """Trace every batch bucket at start-up, so no job pays for it."""
        blank = np.zeros((self.spec.input_size,) * 2 + (3,), np.uint8)
        for size in self.buckets():
            self.raw_outputs([blank] * size)


def resolve_model_path(path: str | Path | None) -> Path:
    """A model directory or ``.h5`` file from a path or an alias (``default``, ``fast``); None = default."""
    if path is None or str(path) == "":
        return DEFAULT_MODEL_DIR
    return MODEL_ALIASES.get(str(path), Path(path))


def model_identity(path: str | Path | None = None, runtime: str = "auto") -> tuple[str, str]:
    """(name, version) of a model from its metadata alone, without loading it.

    The version names the whole set of detectors a model directory holds (all heads of a
    multi-head model are trained and versioned together), so it is what dedup keys on. The
    int8 runtime scores differently from the float model and so carries its own version
    (``<version>+int8``); the float runtimes agree within 1e-4 and share one.
    """
    model_dir = resolve_model_path(path)
    if model_dir.suffix == ".h5":
        return f"mesonet-{model_dir.stem}", "reference"
    spec = ModelSpec.from_json(model_dir / "model.json")
    return spec.name, spec.version + (INT8_SUFFIX if runtime == INT8_RUNTIME else "")


def check_model(path: str | Path | None = None) -> None:
    """Raise if a model cannot be found or its metadata is invalid, without loading it."""
    model_dir = resolve_model_path(path)
    if model_dir.suffix == ".h5":
        if not model_dir.is_file():
            raise FileNotFoundError(f"model weights not found: {model_dir}")
        return
    ModelSpec.from_json(model_dir / "model.json")
    if not (model_dir / "model.keras").is_file():
        raise FileNotFoundError(f"model file not found: {model_dir / 'model.keras'}")


RUNTIMES = ("auto", "onnx", "onnx-int8", "keras")
INT8_RUNTIME = "onnx-int8"  # the model's int8 quantization (pipeline/quantize.py): faster, not identical
INT8_SUFFIX = "+int8"  # appended to the version of results scored by it


def _onnx_file(model_dir: Path, spec: ModelSpec, runtime: str) -> Path | None:
    """The model's ONNX export (int8 for ``onnx-int8``) when ``runtime`` asks for it and it can run here, else None."""
    if runtime not in RUNTIMES:
        raise ValueError(f"inference runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    key, tool = ("onnx_int8", "python -m pipeline.quantize") if runtime == INT8_RUNTIME else (
        "onnx", "python -m pipeline.onnx_export")
    record = spec.extra.get(key)
    if runtime == "keras" or (record is None and runtime == "auto"):
        return None
    if record is None:
        kind = "int8 ONNX export" if runtime == INT8_RUNTIME else "ONNX export"
        raise FileNotFoundError(f"{model_dir} has no {kind} ({tool} {model_dir})")
    path = model_dir / record["file"]
    # auto: a directory copied without its export (or no onnxruntime here) still runs, on Keras.
    if runtime == "auto" and (not path.is_file() or importlib.util.find_spec("onnxruntime") is None):
        return None
    if not path.is_file():
        raise FileNotFoundError(f"ONNX export not found: {path} ({tool} {model_dir})")
    return path


def inference_runtime(path: str | Path | None = None, runtime: str = "auto") -> str:
    """``onnxruntime`` or ``tensorflow``: what ``load_classifier(path, runtime=runtime)`` would run.

    Reads metadata only, so a worker knows before loading whether it needs TensorFlow at all.
    Raises what ``load_classifier`` would for an unknown runtime or a missing ONNX export.
    """
    model_dir = resolve_model_path(path)
    if model_dir.suffix == ".h5":
        _check_mesonet_runtime(runtime)
        return "tensorflow"
    spec = ModelSpec.from_json(model_dir / "model.json")
    return "tensorflow" if _onnx_file(model_dir, spec, runtime) is None else "onnxruntime"


def _check_mesonet_runtime(runtime: str) -> None:
    if runtime not in RUNTIMES:
        raise ValueError(f"inference runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    if runtime in ("onnx", INT8_RUNTIME):  # saying so beats running it on Keras behind the setting's back
        raise ValueError("MesoNet .h5 weights have no ONNX export and run on Keras only: "
                         "use inference runtime 'auto' or 'keras'")


def load_classifier(path: str | Path | None = None, batch_size: int = 32, runtime: str = "auto",
                    threads: int | None = None, inter_op_threads: int = 0) -> FaceClassifier:
    """Load a model directory (``model.keras`` + ``model.json``) or alias; the shipped default when None.

    ``runtime``: ``auto`` runs the model's ONNX export (``pipeline/onnx_export.py``) with ONNX
    Runtime when there is one and ``onnxruntime`` is installed, else Keras; ``onnx`` insists on
    ONNX Runtime (``FileNotFoundError`` without an export; ``ValueError`` for MesoNet ``.h5``
    weights, which have none); ``onnx-int8`` runs the int8 quantization (``pipeline/quantize.py``;
    scores differ slightly, the version says ``+int8``); ``keras`` always uses TensorFlow.
    ``threads`` caps the pool of whichever runtime runs the model (None: its default, one per
    core); ``inter_op_threads`` sizes TensorFlow's inter-op pool (0: its default). TensorFlow is
    imported only when Keras is needed: at once for ``keras``, on first Grad-CAM for ONNX Runtime.
    """
    model_dir = resolve_model_path(path)
    if model_dir.suffix == ".h5":
        _check_mesonet_runtime(runtime)
        configure_tensorflow(threads or 0, inter_op_threads)
        return load_mesonet(model_dir, batch_size)
    spec = ModelSpec.from_json(model_dir / "model.json")

    def keras_model():
        configure_tensorflow(threads or 0, inter_op_threads)
        import keras

        return keras.models.load_model(model_dir / "model.keras", compile=False)

    onnx_file = _onnx_file(model_dir, spec, runtime)
    if onnx_file is None:
        return FaceClassifier(keras_model(), spec, batch_size)
    from pipeline.onnx_export import onnx_session

    if runtime == INT8_RUNTIME:
        spec = dataclasses.replace(spec, version=spec.version + INT8_SUFFIX)
    return FaceClassifier(keras_model, spec, batch_size, session=onnx_session(onnx_file, threads))


def load_mesonet(weights: str | Path, batch_size: int = 32) -> FaceClassifier:
    """Meso-4 with the published MesoNet weights (output P(real), nearest resize, no calibration)."""
    import h5py

    from pipeline.architectures import MESO4_INPUT, meso4

    model = meso4()
    with h5py.File(weights, "r") as f:
        for layer in model.layers:
            if layer.weights:
                group = f[layer.name][layer.name]
                layer.set_weights([np.asarray(group[f"{w.name}:0"]) for w in layer.weights])
    spec = ModelSpec(name=f"mesonet-{Path(weights).stem}", version="reference", architecture="meso4",
                     input_size=MESO4_INPUT, output="p_real", resize="nearest", crop_scale=1.3)
    return FaceClassifier(model, spec, batch_size)
