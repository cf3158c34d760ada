"""Fine-tune backbone + regression head on quality labels (DifFIQA(R), MR-FIQA regressor), then export ONNX.

Data: ``fiqa.data.degrade.labelled_set`` (aligned CelebA crops, degraded copies of half of them), labels in
[0, 1] from a source of ``fiqa.labels.sources``; identity-disjoint train/val split of ``fiqa.data.celeba``. L1 loss.

    python -m fiqa train-regressor --labels diffiqa --backbone data/runs/backbone/backbone.pt \
        --out data/runs/diffiqa_r --onnx models/diffiqa_r/model.onnx
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import rankdata, spearmanr

from fiqa.data.celeba import CelebaIndex
from fiqa.data.degrade import labelled_set
from fiqa.data.teacher import teacher_targets
from fiqa.labels.sources import SOURCES, raw_labels
from fiqa.models import backbone
from fiqa.models.mobilefacenet import resample_gdconv
from fiqa.models.regressor import QualityRegressor
from fiqa.models.served import load_served, predict, to_input
from fiqa.train.backbone import load_backbone
from fiqa.train.common import RunLog, add_run_arguments, plot_curves
from fiqa.train.loop import fit

INPUT, OUTPUT = "input", "quality"


def scale_labels(values: np.ndarray, scale: str = "minmax") -> np.ndarray:
    """Labels to [0, 1], over every sample trained or validated on.

    ``minmax``: the papers' min-max normalisation. ``rank``: the labels' empirical CDF (ties averaged), i.e. their
    order spread evenly over [0, 1]. Min-max packs DifFIQA labels into a narrow band (a few badly degraded copies
    set the minimum: half the labels lie within 0.04 of each other), where an L1 regressor gains little from
    ordering the good faces, and ordering good faces is most of what an EDC asks.
    """
    if scale == "rank":
        return (rankdata(values) - 1) / max(1, values.size - 1)
    if scale != "minmax":
        raise ValueError(f"unknown label scale {scale!r}")
    low, high = float(values.min()), float(values.max())
    return np.clip((values - low) / max(high - low, 1e-12), 0.0, 1.0)


def teacher_tensors(sets: list[Path]) -> tuple[torch.Tensor, torch.Tensor]:
    """``teacher_targets`` of several prepared sets, concatenated in order, as float tensors (plain, mirror)."""
    pairs = [teacher_targets(path) for path in sets]
    plain, mirror = (torch.from_numpy(np.concatenate([p[k] for p in pairs])).float() for k in (0, 1))
    return plain, mirror


def teacher_term(
    embedding: torch.Tensor, teacher: tuple[torch.Tensor, torch.Tensor], rows: np.ndarray, flip: np.ndarray
) -> torch.Tensor:
    """1 - mean cosine of a batch's embeddings to the teacher's (mirror embedding for flipped rows)."""
    wanted = torch.where(torch.from_numpy(flip)[:, None], teacher[1][rows], teacher[0][rows])
    return 1.0 - F.cosine_similarity(embedding, wanted).mean()


def training_labels(args: argparse.Namespace) -> np.ndarray:
    """Labels in [0, 1] of ``labelled_set(args.data)`` followed by each ``--extra`` set's, scaled over the union
    (so all sets share one scale)."""
    if args.extra and SOURCES[args.labels].identities:
        raise ValueError("--extra sets have no identities: only DifFIQA and distilled labels cover them")
    values = [raw_labels(args.labels, path, args.label_model) for path in (args.data, *args.extra)]
    return scale_labels(np.concatenate(values), args.label_scale).astype(np.float32)


def training_set(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(crops, labels in [0, 1], train rows, validation rows).

    The CelebA set is split by identity; every sample of an ``--extra`` set (prepared crops of people outside
    the benchmark, e.g. ``fiqa.data.lfw_extra``) is a training sample.
    """
    labels = training_labels(args)
    index = CelebaIndex.load(args.data / "index.npz")
    crops, source, _ = labelled_set(args.data)
    crops = np.concatenate([crops, *(labelled_set(extra)[0] for extra in args.extra)])
    split = np.concatenate([index.split[source], np.full(len(crops) - len(source), "train")])
    return crops, labels, np.flatnonzero(split == "train"), np.flatnonzero(split == "val")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation (ties averaged), the figure the regressors are judged by against their labels."""
    return float(spearmanr(a, b).statistic)


def agreement(model: torch.nn.Module, args: argparse.Namespace, val: tuple[np.ndarray, np.ndarray]) -> dict:
    """Spearman of the model's predictions against the labels: on the validation samples ``val`` (crops, scaled
    labels) and on every sample of each ``--measure`` set (its crops and degraded copies, raw labels: the rank
    correlation needs no common scale). A measure set is held out (e.g. out-of-frame variants of validation
    crops): no epoch is chosen by it."""
    figures = {"val": round(spearman(predict(model, val[0]), val[1]), 4)}
    for path in args.measure:
        raw = raw_labels(args.labels, path, args.label_model)
        figures[str(path)] = round(spearman(predict(model, labelled_set(path)[0]), raw), 4)
    return figures


def carried_over(preset: str, checkpoint: Path) -> QualityRegressor:
    """A ``preset`` regressor carrying a trained regressor's weights (``--init``). When the preset works at a lower
    resolution than the checkpoint (``mobilefacenet_r64`` from ``mobilefacenet``) every convolution fits as is but
    the global depthwise pooling, which is resampled to the smaller final map."""
    model = QualityRegressor(backbone(preset))
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    wanted = model.state_dict()
    for key, value in state.items():
        if key.endswith("gdconv.0.weight") and value.shape != wanted[key].shape:
            state[key] = resample_gdconv(value, wanted[key].shape[-1])
    model.load_state_dict(state)
    return model


def initial_model(args: argparse.Namespace) -> QualityRegressor:
    """A trained regressor carried onto ``--preset`` (``--init``), or ``--backbone`` (else a fresh ``--preset``
    backbone) with a fresh head."""
    if args.init:
        return carried_over(args.preset, args.init)
    return QualityRegressor(load_backbone(args.backbone) if args.backbone else backbone(args.preset))


def train(args: argparse.Namespace) -> QualityRegressor:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    crops, labels, train_rows, val_rows = training_set(args)

    model = initial_model(args).to(memory_format=torch.channels_last)
    if set(args.measure) & {args.data, *args.extra}:
        raise ValueError("a --measure set is held out: it cannot be trained on too")
    measured = {"start": agreement(model, args, (crops[val_rows], labels[val_rows]))} if args.measure else {}
    optimiser = torch.optim.AdamW(
        [
            {"params": model.backbone.parameters(), "lr": args.lr_backbone},
            {"params": model.head.parameters(), "lr": args.lr_head},
        ],
        weight_decay=args.weight_decay,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    config = {k: str(v) for k, v in vars(args).items()}
    config["extra"] = [str(path) for path in args.extra]  # a list, so publish can rebuild the label scale
    log = RunLog(args.out / "history.json", config)
    target = torch.from_numpy(labels)
    teacher = teacher_tensors([args.data, *args.extra]) if args.distill_weight > 0 else None
    checkpoint = args.out / "regressor.pt"

    def step(rows: np.ndarray, flip: np.ndarray) -> tuple[torch.Tensor, dict[str, float]]:
        embedding = model.backbone(to_input(crops[rows], flip))
        l1 = F.l1_loss(model.head(embedding)[:, 0], target[rows])
        if teacher is None:
            return l1, {"train_l1": float(l1.detach())}
        distill = teacher_term(embedding, teacher, rows, flip)
        return l1 + args.distill_weight * distill, {"train_l1": float(l1.detach()), "distill": float(distill.detach())}

    def validate() -> tuple[dict[str, float], float]:
        pred = predict(model, crops[val_rows])
        rho = spearman(pred, labels[val_rows])
        return {"val_l1": round(float(np.abs(pred - labels[val_rows]).mean()), 5), "val_spearman": round(rho, 4)}, rho

    def save(epoch: int) -> None:
        torch.save({"preset": args.preset, "state_dict": model.state_dict(), "epoch": epoch}, checkpoint)

    # the epoch with the best validation Spearman is kept: long CPU runs on 5k photos can start to overfit
    figures = ("train_l1", "distill")
    best = fit(
        model, optimiser, train_rows, step, validate, save, run=args, log=log, figures=figures, freeze_bn=args.freeze_bn
    )
    print(f"keeping epoch {best[1]} (best validation Spearman {best[0]:.4f})", flush=True)
    model = load_served(checkpoint)
    if measured:
        measured["kept"] = agreement(model, args, (crops[val_rows], labels[val_rows]))
        (args.out / "measured.json").write_text(json.dumps(measured, indent=1))
        print(f"Spearman against the labels, start -> kept: {json.dumps(measured)}", flush=True)
    plot_curves(log.path, ["train_l1", "val_l1", "val_spearman"], args.out / "curves.png", f"{args.labels} regressor")
    index = CelebaIndex.load(args.data / "index.npz")
    np.save(args.out / "val_predictions.npy", predict(model, crops[np.flatnonzero(index.split == "val")]))
    if args.onnx:
        export(model, args.onnx, crops[val_rows[:8]], args.out / "export.json")
    return model


def export(model: torch.nn.Module, path: Path, faces: np.ndarray, report_path: Path) -> float:
    """ONNX with a dynamic batch (the shared exporter) and parity on real aligned faces; returns max |diff|."""
    from export.onnx_export import export_onnx

    model = model.eval().to(memory_format=torch.contiguous_format)
    example = to_input(faces).contiguous()
    report = export_onnx(model, example, path, [INPUT], [OUTPUT])
    report_path.write_text(
        json.dumps({"onnx": str(path), "max_abs_diff": report.max_abs_diff, "parity_batch": report.parity_batch})
    )
    print(f"exported {path}: max |onnxruntime - torch| = {report.max_abs_diff:.3g}", flush=True)
    return report.max_abs_diff


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--labels", choices=[name for name, source in SOURCES.items() if source.regressor], default="diffiqa"
    )
    parser.add_argument(
        "--label-model", type=Path, default=None, help="the teacher regressor's checkpoint, for --labels distilled"
    )
    parser.add_argument("--label-scale", choices=["minmax", "rank"], default="minmax", help="see scale_labels")
    parser.add_argument("--data", type=Path, default=Path("data/celeba_aligned"))
    parser.add_argument(
        "--extra", type=Path, action="append", default=[], help="more prepared crops to train on (repeatable)"
    )
    parser.add_argument(
        "--measure",
        type=Path,
        action="append",
        default=[],
        help="held-out prepared sets (e.g. out-of-frame variants of validation crops): Spearman against their "
        "labels before and after training, in measured.json (repeatable)",
    )
    parser.add_argument("--backbone", type=Path, default=Path("data/runs/backbone/backbone.pt"))
    parser.add_argument("--preset", default="mobilefacenet_xs", help="must match --backbone's preset")
    parser.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from this trained regressor's checkpoint instead of --backbone (e.g. a lower-resolution copy)",
    )
    parser.add_argument("--out", type=Path, default=Path("data/runs/diffiqa_r"))
    parser.add_argument("--onnx", type=Path, default=None)
    parser.add_argument("--lr-backbone", type=float, default=1e-3)
    parser.add_argument("--lr-head", type=float, default=3e-3)
    parser.add_argument(
        "--distill-weight",
        type=float,
        default=0.0,
        help="weight of 1 - cos(backbone embedding, teacher embedding): keeps the backbone a recognition network",
    )
    parser.add_argument(
        "--freeze-bn",
        action="store_true",
        help="keep BatchNorm statistics fixed (an imported, BN-folded backbone such as import-teacher's)",
    )
    add_run_arguments(parser, epochs=4, max_minutes=15.0, weight_decay=5e-4)


def main(args: argparse.Namespace) -> int:
    """Run the command (``python -m fiqa`` parses its arguments with ``configure``)."""
    train(args)
    return 0
