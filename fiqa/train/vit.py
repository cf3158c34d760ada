"""Train ViT-FIQA on the CelebA training identities: L = L_FR + L_FIQ.

L_FR: CosFace (s=48, m=0.4) on the patch-token embedding; L_FIQ: smooth-L1 between the quality-token output and
the sample's certainty ratio CR = CCS / (NNCCS + 1 + ε) from the same margin head (detached: the FR branch
defines the target, the quality branch follows it, as in CR-FIQA / ViT-FIQA). Inputs: the aligned crops and
their degraded copies (``fiqa.data.degrade.labelled_set``), with multi-resolution augmentation off.

    python -m fiqa train-vitfiqa --preset vit_tiny --out data/runs/vitfiqa --onnx models/vitfiqa/model.onnx
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fiqa.data.celeba import CelebaIndex
from fiqa.data.degrade import labelled_set
from fiqa.labels.sources import raw_labels
from fiqa.losses import MarginSoftmax, certainty_ratio
from fiqa.models.served import load_served, predict, to_input
from fiqa.models.vit import QualityOnly, vit_fiqa
from fiqa.train.common import RunLog, add_run_arguments, plot_curves
from fiqa.train.loop import fit
from fiqa.train.regressor import export, scale_labels, spearman, teacher_tensors, teacher_term


def train(args: argparse.Namespace) -> torch.nn.Module:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    index = CelebaIndex.load(args.data / "index.npz")
    crops, source, degraded = labelled_set(args.data)
    split = index.split[source]
    train_rows, val_rows = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    classes = {identity: k for k, identity in enumerate(np.unique(index.identity[source[train_rows]]))}
    labels = torch.tensor([classes.get(int(i), -1) for i in index.identity[source]])

    model = vit_fiqa(args.preset)
    head = MarginSoftmax(model.config.embedding, len(classes), s=48.0, m=0.4)
    offline = None
    if args.cr_source == "teacher":
        # CR-FIQA's offline labels: the teacher's embeddings against its identity centres, rank-scaled
        offline = torch.from_numpy(scale_labels(raw_labels("crfiqa", args.data), "rank")).float()
    teacher = None
    if args.distill_weight > 0:
        if model.config.embedding != 512:
            raise ValueError("--distill-weight needs a 512-D embedding (the teacher's)")
        teacher = teacher_tensors([args.data])
    optimiser = torch.optim.AdamW(
        list(model.parameters()) + list(head.parameters()), lr=args.lr, weight_decay=args.weight_decay
    )
    args.out.mkdir(parents=True, exist_ok=True)
    config = {k: str(v) for k, v in vars(args).items()}
    if offline is not None:
        config["label_scale"] = "rank"  # what publish-regressor compares the output with
    log = RunLog(args.out / "history.json", config)
    checkpoint = args.out / "vitfiqa.pt"

    def step(rows: np.ndarray, flip: np.ndarray) -> tuple[torch.Tensor, dict[str, float]]:
        y = labels[rows]
        embedding, quality = model(to_input(crops[rows], flip).contiguous())
        loss_fr, cosines = head(embedding, y)
        target = certainty_ratio(cosines.detach(), y) if offline is None else offline[rows]
        loss_fiq = F.smooth_l1_loss(quality[:, 0], target)
        loss = loss_fr + args.fiq_weight * loss_fiq
        figures = {"fr": float(loss_fr.detach()), "fiq": float(loss_fiq.detach()), "cr": float(target.mean())}
        if teacher is not None:
            distill = teacher_term(embedding, teacher, rows, flip)
            loss = loss + args.distill_weight * distill
            figures["distill"] = float(distill.detach())
        return loss, figures

    def validate() -> tuple[dict[str, float], float | None]:
        pred = predict(QualityOnly(model), crops[val_rows], batch=256)
        figures = {
            # no labels on unseen identities: check the quality token ranks degraded copies below photos
            "val_degraded_mean": round(float(pred[degraded[val_rows]].mean()), 4),
            "val_plain_mean": round(float(pred[~degraded[val_rows]].mean()), 4),
            "val_spearman_plain_vs_degraded": round(spearman(pred, (~degraded[val_rows]).astype(float)), 4),
        }
        if offline is None:
            return figures, None
        # with offline labels, the epoch closest to them on unseen identities is kept (as train-regressor does)
        figures["val_spearman"] = round(spearman(pred, offline[val_rows]), 4)
        return figures, figures["val_spearman"]

    def save(epoch: int) -> None:
        torch.save({"preset": args.preset, "state_dict": model.state_dict(), "epoch": epoch}, checkpoint)

    fit(model, optimiser, train_rows, step, validate, save, run=args, log=log, figures=("fr", "fiq", "cr", "distill"))
    model = load_served(checkpoint).model
    plot_curves(
        log.path,
        ["fr", "fiq", "distill", "val_spearman_plain_vs_degraded", *(["val_spearman"] if offline is not None else [])],
        args.out / "curves.png",
        f"ViT-FIQA {args.preset}",
    )
    served = QualityOnly(model).eval()
    plain_val = np.flatnonzero((split == "val") & ~degraded)
    np.save(args.out / "val_predictions.npy", predict(served, crops[plain_val], batch=256))
    if args.onnx:
        export(served, args.onnx, crops[val_rows[:8]], args.out / "export.json")
    return model


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data/celeba_aligned"))
    parser.add_argument("--preset", default="vit_tiny")
    parser.add_argument("--out", type=Path, default=Path("data/runs/vitfiqa"))
    parser.add_argument("--onnx", type=Path, default=None)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--fiq-weight", type=float, default=1.0)
    parser.add_argument(
        "--cr-source",
        choices=["online", "teacher"],
        default="online",
        help="the quality token's target: the certainty ratio from the margin head during training (the paper), "
        "or CR-FIQA's offline ratio from fr_feature's embeddings and identity centres (rank-scaled), for when the "
        "FR branch is too weak to define one",
    )
    parser.add_argument(
        "--distill-weight",
        type=float,
        default=0.0,
        help="weight of 1 - cos(patch-token embedding, fr_feature's): on a few thousand photos the FR branch "
        "learns little from CosFace alone, and the certainty ratio it defines is then flat",
    )
    add_run_arguments(parser, epochs=10, max_minutes=15.0, weight_decay=0.05)


def main(args: argparse.Namespace) -> int:
    """Run the command (``python -m fiqa`` parses its arguments with ``configure``)."""
    train(args)
    return 0
