"""Train a face-swap classifier from a folder dataset, then calibrate it.

A run directory holds everything needed to reproduce or resume it:
``config.json`` (every setting, the seed included), ``last.keras`` plus
``state.json`` (resume point, written every epoch), ``best.keras`` (best
validation AUC), ``history.csv``, ``tb/`` (TensorBoard) and, at the end, the
exported model directory (``model/model.keras`` + ``model/model.json``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pipeline.datasets import LabelledFiles, labelled_files, split_dir

# "strong": every image recompressed and downscaled (the first stage of the shipped model).
# "mild": each degradation applied to a share of the images only, so the model also sees
# clean artefacts; it learns faster and still meets recompressed and resized faces.
AUGMENT_PRESETS = {
    "strong": {"jpeg_quality": [30, 95], "p_jpeg": 1.0, "downscale": [0.4, 1.0], "p_downscale": 1.0,
               "flip": True, "brightness": 0.15, "contrast": 0.2, "saturation": 0.2, "hue": 0.03,
               "crop_scale": [0.8, 1.0]},
    "mild": {"jpeg_quality": [50, 95], "p_jpeg": 0.5, "downscale": [0.5, 1.0], "p_downscale": 0.3,
             "flip": True, "brightness": 0.1, "contrast": 0.1, "saturation": 0.1, "hue": 0.02,
             "crop_scale": [0.85, 1.0]},
}


@dataclass
class TrainConfig:
    data: str
    out: str
    architecture: str = "sepnet"
    input_size: int = 160
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 6
    seed: int = 1234
    init_model: str | None = None  # fine-tune from this model directory or .keras file
    max_train: int | None = None  # cap per split, for smoke runs
    augment: dict = field(default_factory=lambda: dict(AUGMENT_PRESETS["mild"]))
    name: str = "sepnet-dfdc"
    version: str = "1.0.0"


def _files(root: str, split: str, cap: int | None, seed: int) -> LabelledFiles:
    folder = split_dir(root, split)
    if folder is None:
        raise FileNotFoundError(f"{root} has no {split} split")
    files = labelled_files(folder)
    if cap is not None and len(files) > cap:
        pick = np.sort(np.random.default_rng(seed).choice(len(files), cap, replace=False))
        files = LabelledFiles([files.paths[i] for i in pick], [files.labels[i] for i in pick])
    return files


def _augment(image, cfg: TrainConfig):
    """Mimic what real media does to a face: recompression, resizing, crops, colour shifts."""
    import tensorflow as tf

    a = cfg.augment
    size = tf.shape(image)[0]
    scale = tf.random.uniform([], *a["crop_scale"])
    crop = tf.cast(tf.cast(size, tf.float32) * scale, tf.int32)
    image = tf.image.random_crop(image, tf.stack([crop, crop, 3]))
    if a["flip"]:
        image = tf.image.random_flip_left_right(image)
    # Down-then-up resizing stands in for re-encoding at a lower resolution and for blur.
    factor = tf.random.uniform([], *a["downscale"])
    factor = tf.where(tf.random.uniform([]) < a.get("p_downscale", 1.0), factor, 1.0)
    down = tf.maximum(tf.cast(tf.cast(crop, tf.float32) * factor, tf.int32), 32)
    image = tf.image.resize(image, tf.stack([down, down]), antialias=True)
    image = tf.image.resize(image, [cfg.input_size, cfg.input_size], antialias=True)
    image = tf.image.random_brightness(image, a["brightness"])
    image = tf.image.random_contrast(image, 1 - a["contrast"], 1 + a["contrast"])
    image = tf.image.random_saturation(image, 1 - a["saturation"], 1 + a["saturation"])
    image = tf.image.random_hue(image, a["hue"])
    image = tf.clip_by_value(image, 0.0, 1.0)
    return tf.cond(tf.random.uniform([]) < a.get("p_jpeg", 1.0),
                   lambda: tf.image.random_jpeg_quality(image, *a["jpeg_quality"]), lambda: image)


def make_dataset(files: LabelledFiles, cfg: TrainConfig, training: bool):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((files.paths, np.asarray(files.labels, np.float32)))
    if training:
        ds = ds.shuffle(len(files), seed=cfg.seed, reshuffle_each_iteration=True)

    def load(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image = tf.image.convert_image_dtype(image, tf.float32)
        if training:
            image = _augment(image, cfg)
        image = tf.image.resize(image, [cfg.input_size, cfg.input_size], antialias=True)
        return tf.ensure_shape(image, [cfg.input_size, cfg.input_size, 3]), label

    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(cfg.batch_size).prefetch(tf.data.AUTOTUNE)


def _build_or_resume(cfg: TrainConfig, out: Path, steps_per_epoch: int):
    import keras

    from pipeline.architectures import ARCHITECTURES

    state_file = out / "state.json"
    if state_file.exists() and (out / "last.keras").exists():
        state = json.loads(state_file.read_text())
        print(f"resuming from epoch {state['epoch']}")
        return keras.models.load_model(out / "last.keras"), state
    model = ARCHITECTURES[cfg.architecture](input_size=cfg.input_size)
    if cfg.init_model:
        init = Path(cfg.init_model)
        model.load_weights(init / "model.keras" if init.is_dir() else init)
    schedule = keras.optimizers.schedules.CosineDecay(
        cfg.learning_rate, decay_steps=cfg.epochs * steps_per_epoch, warmup_target=None
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=cfg.weight_decay),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.AUC(from_logits=True, name="auc"), keras.metrics.BinaryAccuracy(threshold=0.0)],
    )
    return model, {"epoch": 0, "best_auc": 0.0, "stale": 0}


class _Checkpoint:
    """Keras callback saving the resume point and the best model every epoch."""

    def __init__(self, out: Path, state: dict, patience: int):
        import keras

        class Callback(keras.callbacks.Callback):
            def on_epoch_end(cb, epoch, logs=None):
                self.on_epoch_end(cb.model, epoch, logs or {})

        self.out, self.state, self.patience = out, state, patience
        self.callback = Callback()

    def on_epoch_end(self, model, epoch: int, logs: dict) -> None:
        auc = float(logs.get("val_auc", 0.0))
        if auc > self.state["best_auc"]:
            self.state.update(best_auc=auc, best_epoch=epoch + 1, stale=0)
            model.save(self.out / "best.keras")
        else:
            self.state["stale"] += 1
        self.state["epoch"] = epoch + 1
        model.save(self.out / "last.keras")
        (self.out / "state.json").write_text(json.dumps(self.state, indent=2))
        if self.state["stale"] >= self.patience:
            print(f"early stop: no val AUC gain for {self.patience} epochs")
            model.stop_training = True


def train(cfg: TrainConfig, export_only: bool = False) -> Path:
    """Train (or resume), then calibrate the best model and export it. Returns the model dir.

    ``export_only`` skips training and exports the run's best checkpoint so far
    (for a run stopped early: it can still be resumed later).
    """
    import keras

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if export_only:
        cfg = TrainConfig(**{**json.loads((out / "config.json").read_text()), "out": cfg.out, "data": cfg.data})
    else:
        (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    keras.utils.set_random_seed(cfg.seed)
    train_files = _files(cfg.data, "train", cfg.max_train, cfg.seed)
    val_files = _files(cfg.data, "val", cfg.max_train, cfg.seed)
    print(f"train: {train_files.count(0)} real / {train_files.count(1)} fake; val: {len(val_files)}")
    train_ds, val_ds = make_dataset(train_files, cfg, True), make_dataset(val_files, cfg, False)
    steps = int(np.ceil(len(train_files) / cfg.batch_size))
    model, state = _build_or_resume(cfg, out, steps)
    if not export_only and state["epoch"] < cfg.epochs and state["stale"] < cfg.patience:
        checkpoint = _Checkpoint(out, state, cfg.patience)
        model.fit(
            train_ds, validation_data=val_ds, epochs=cfg.epochs, initial_epoch=state["epoch"], verbose=1,
            shuffle=False,  # the dataset shuffles itself each epoch
            callbacks=[checkpoint.callback, keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
                       keras.callbacks.TensorBoard(str(out / "tb"), write_graph=False)],
        )
    best = keras.models.load_model(out / "best.keras")
    return export(best, cfg, val_files, out / "model", trained_epochs=state.get("best_epoch", state["epoch"]))


def predict_logits(model, files: LabelledFiles, cfg: TrainConfig) -> np.ndarray:
    """Logits for a file list, in order, without augmentation."""
    logits = [model.predict_on_batch(x) for x, _ in make_dataset(files, cfg, False)]
    return np.concatenate(logits).reshape(-1)


def export(model, cfg: TrainConfig, val_files: LabelledFiles, model_dir: Path, trained_epochs: int) -> Path:
    """Calibrate on validation and write ``model.keras`` + ``model.json``."""
    from pipeline.calibration import fit_bands, fit_temperature, fit_threshold, sigmoid
    from pipeline.metrics import binary_report

    labels = np.asarray(val_files.labels)
    logits = predict_logits(model, val_files, cfg)
    temperature = fit_temperature(logits, labels)
    probs = sigmoid(logits / temperature)
    threshold = fit_threshold(labels, probs)
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save(model_dir / "model.keras")
    meta = {
        "name": cfg.name,
        "version": cfg.version,
        "architecture": cfg.architecture,
        "input_size": cfg.input_size,
        "resize": "area",
        "crop_scale": 1.0,
        "output": "logit_fake",
        "temperature": temperature,
        "threshold": threshold,
        "bands": list(fit_bands(threshold)),
        "trained": {"epochs": trained_epochs, "seed": cfg.seed, "data": Path(cfg.data).name,
                    "date": time.strftime("%Y-%m-%d")},
        "validation": binary_report(labels, probs, threshold),
    }
    (model_dir / "model.json").write_text(json.dumps(meta, indent=2))
    print(json.dumps(meta["validation"], indent=2))
    from pipeline.onnx_export import export_model_dir

    print(f"ONNX export: {export_model_dir(model_dir)}")
    return model_dir
