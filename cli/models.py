"""The model commands of the ``deepfake`` CLI: ``train`` and ``evaluate`` (argument parsing only)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ARCHITECTURES = ("lite0-two-head", "sepnet")


def cmd_train(args: argparse.Namespace) -> int:
    if args.architecture == "sepnet":
        return _train_sepnet(args)
    return _train_detector(args)


def _train_sepnet(args: argparse.Namespace) -> int:
    from pipeline.training import AUGMENT_PRESETS, TrainConfig, train

    if len(args.data) != 1:
        raise SystemExit("sepnet trains on one --data root; lite0-two-head takes several")
    cfg = TrainConfig(data=args.data[0], out=args.out, architecture=args.architecture,
                      input_size=args.input_size or 160, epochs=args.epochs or 30, batch_size=args.batch_size,
                      learning_rate=args.learning_rate or 2e-3, patience=args.patience or 6, seed=args.seed,
                      init_model=args.init_model, max_train=args.max_train, name=args.name or "sepnet-dfdc",
                      version=args.version or "1.0.0", augment=dict(AUGMENT_PRESETS[args.augment]))
    print(f"model written to {train(cfg, export_only=args.export_only)}")
    return 0


def _train_detector(args: argparse.Namespace) -> int:
    from pipeline.detector_training import DetectorConfig, export_detector, train_detector

    config_file = Path(args.out) / "config.json"
    if args.export_only:
        cfg = DetectorConfig(**json.loads(config_file.read_text()))
    else:
        given = {k: v for k, v in {
            "input_size": args.input_size, "epochs": args.epochs, "learning_rate": args.learning_rate,
            "patience": args.patience, "name": args.name, "version": args.version, "variants": args.variants,
            "blends": args.blends, "augment_seed": args.augment_seed}.items() if v is not None}
        cfg = DetectorConfig(data=args.data, out=args.out, batch_size=args.batch_size, seed=args.seed,
                             max_train=args.max_train, init_model=args.init_model, **given)
        train_detector(cfg)
    print(f"model written to {export_detector(cfg)}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from core.settings import get_settings
    from pipeline.evaluation import evaluate_datasets

    report = evaluate_datasets(args.data, args.model, detect=args.detect, perturb=args.perturb,
                               plots_dir=args.plots, limit=args.limit, seed=args.seed,
                               runtime=get_settings().inference_runtime)
    text = json.dumps(report, indent=2)
    if args.json:
        Path(args.json).write_text(text)
    if args.table:
        print(family_table(report))
    else:
        print(text)
    return 0


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def family_table(report: dict) -> str:
    """The per-family figures as a fixed-width table (ROC-AUC, TPR at 1 % / 5 % FPR, ECE, log loss...)."""
    cols = ("n", "roc_auc", "tpr_at_fpr_1pct", "tpr_at_fpr_5pct", "recall", "tnr", "ece", "log_loss", "no_face")
    rows = [(name, r) for name, r in report["by_dataset"].items()] + [("all", report)]
    width = max(len(name) for name, _r in rows) + 2
    lines = [f"{'dataset':<{width}}" + "".join(f"{c:>16}" for c in cols)]
    for name, r in rows:
        lines.append(f"{name:<{width}}" + "".join(f"{_cell(r.get(c)):>16}" for c in cols))
    for name, r in report.get("robustness", {}).items():
        lines.append(f"{name:<{width}} roc_auc {r['roc_auc']:.4f}  recall {r['recall']:.4f}  tnr {r['tnr']:.4f}")
    return "\n".join(lines)


def add_model_commands(sub) -> None:
    """Register ``train`` and ``evaluate`` on the CLI's subparsers."""
    text = "train a detector from {train,val,test}/{real,fake} folders (several --data)"
    p = sub.add_parser("train", help=text, description=text)
    p.add_argument("--data", required=True, action="append", help="a dataset root; repeat for several")
    p.add_argument("--out", required=True, help="run directory (resumes if it holds a checkpoint)")
    p.add_argument("--architecture", default="lite0-two-head", choices=ARCHITECTURES,
                   help="lite0-two-head (the shipped model's) or sepnet (the fast model's)")
    p.add_argument("--input-size", type=int, help="default: 192 (lite0-two-head), 160 (sepnet)")
    p.add_argument("--epochs", type=int, help="passes over the training data (default: the architecture's)")
    p.add_argument("--batch-size", type=int, default=64, help="images per training step")
    p.add_argument("--learning-rate", type=float, help="starting learning rate (default: the architecture's)")
    p.add_argument("--patience", type=int,
                   help="epochs without a better validation loss before stopping (default: the architecture's)")
    p.add_argument("--seed", type=int, default=1234, help="random seed of the run")
    p.add_argument("--augment", choices=["mild", "strong"], default="mild", help="augmentation preset (sepnet)")
    p.add_argument("--init-model", help="fine-tune from this model")
    p.add_argument("--variants", type=int, help="degraded copies of each training image (lite0-two-head; default 2)")
    p.add_argument("--blends", type=int,
                   help="self-blended fakes of each real training image (lite0-two-head; default 2)")
    p.add_argument("--augment-seed", type=int,
                   help="seed of the training copies (lite0-two-head; default --seed + 2): "
                        "a new value gives a fine-tune fresh copies of the same images")
    p.add_argument("--max-train", type=int, help="cap the images per split and dataset (smoke runs)")
    p.add_argument("--name", help="the model's name in its model.json (default: the architecture's)")
    p.add_argument("--version", help="the model's version in its model.json (default: the architecture's)")
    p.add_argument("--export-only", action="store_true",
                   help="export the run's best checkpoint (with its recorded config) without training")
    p.set_defaults(func=cmd_train, tensorflow=True)

    text = "metrics of a model on labelled folders, per dataset and combined"
    p = sub.add_parser("evaluate", help=text, description=text)
    p.add_argument("--data", required=True, action="append",
                   help="a dataset root (its test split) or a {real,fake} folder; repeat for several")
    p.add_argument("--model", help="model directory, alias (default, fast) or MesoNet .h5 (default: shipped)")
    p.add_argument("--detect", action="store_true", help="run the service's face detector and crop first")
    p.add_argument("--perturb", action="store_true", help="add a JPEG / downscale / blur robustness sweep")
    p.add_argument("--table", action="store_true", help="print a per-dataset table instead of the JSON")
    p.add_argument("--json", help="write the report here")
    p.add_argument("--plots", help="write ROC, confusion matrix and score histogram PNGs here")
    p.add_argument("--limit", type=int, help="evaluate a seeded random subset of this many images per dataset")
    p.add_argument("--seed", type=int, default=0, help="seed of the --limit subset and the perturbations")
    p.set_defaults(func=cmd_evaluate, tensorflow=True)
