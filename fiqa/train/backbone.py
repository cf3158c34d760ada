"""Train the resolution-robust backbone (LRFR seed) by distillation from ``fr_feature``.

Per batch: HR crops (random mirror) and their multi-resolution LR copies (7/14/20 px, 1:1:2) go through the
student; both L2-normalised embeddings regress onto the teacher's embedding of the HR crop (½ each, the place
the seed gives its classification loss), and the LogExp term (λ=1, p=1) pulls the HR and LR embeddings
together. CosFace (s=48, m=0.4) on the training identities can be added (``--cosface-weight``).

    python -m fiqa train-backbone --data data/celeba_aligned --out data/runs/backbone
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fiqa.data.augment import degrade, multi_resolution
from fiqa.data.celeba import CelebaIndex
from fiqa.data.teacher import teacher_embeddings
from fiqa.losses import MarginSoftmax, logexp
from fiqa.models import backbone
from fiqa.models.served import outputs, to_input
from fiqa.train.common import RunLog, add_run_arguments, plot_curves
from fiqa.train.loop import fit


def embed(model: torch.nn.Module, crops: np.ndarray, size: int | None = None, batch: int = 128) -> torch.Tensor:
    """L2-normalised student embeddings of uint8 crops, optionally degraded to ``size`` px first."""
    return F.normalize(outputs(model, crops, batch, (lambda x: degrade(x, size)) if size else None))


def distill_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Squared distance of L2-normalised embeddings (= 2 − 2 cos), mean over the batch."""
    return (student - teacher).pow(2).sum(dim=1).mean()


def train(args: argparse.Namespace) -> Path:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(args.seed)
    index = CelebaIndex.load(args.data / "index.npz")
    crops = np.load(args.data / "crops112.npy")
    plain, mirror = (torch.from_numpy(t) for t in teacher_embeddings(args.data))
    train_rows = np.flatnonzero(index.mask("train"))
    val_rows = np.flatnonzero(index.mask("val"))
    classes = {identity: k for k, identity in enumerate(np.unique(index.identity[train_rows]))}
    labels = torch.tensor([classes.get(int(i), -1) for i in index.identity])

    model = backbone(args.preset).to(memory_format=torch.channels_last)
    head = MarginSoftmax(512, len(classes), s=48.0, m=0.4) if args.cosface_weight > 0 else None
    params = list(model.parameters()) + (list(head.parameters()) if head else [])
    optimiser = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    args.out.mkdir(parents=True, exist_ok=True)
    log = RunLog(args.out / "history.json", {k: str(v) for k, v in vars(args).items()})

    def step(rows: np.ndarray, flip: np.ndarray) -> tuple[torch.Tensor, dict[str, float]]:
        hr = to_input(crops[rows], flip)
        lr_faces, _ = multi_resolution(hr, generator)
        target = torch.where(torch.from_numpy(flip)[:, None], mirror[rows], plain[rows])
        raw = model(torch.cat([hr, lr_faces]))
        e_hr, e_lr = F.normalize(raw).chunk(2)
        loss_distill = 0.5 * distill_loss(e_hr, target) + 0.5 * distill_loss(e_lr, target)
        loss_logexp = logexp(e_hr, e_lr, p=1.0)
        loss = loss_distill + args.logexp_weight * loss_logexp
        figures = {"distill": float(loss_distill.detach()), "logexp": float(loss_logexp.detach())}
        if head is not None:
            y = labels[rows]
            loss_cls = 0.5 * head(raw[: len(rows)], y)[0] + 0.5 * head(raw[len(rows) :], y)[0]
            loss = loss + args.cosface_weight * loss_cls
            figures["cosface"] = float(loss_cls.detach())
        return loss, figures

    def validate() -> tuple[dict[str, float], None]:
        val_hr = embed(model, crops[val_rows])
        val_lr = embed(model, crops[val_rows], size=14)
        return {
            "val_cos_teacher_hr": round(float((val_hr * plain[val_rows]).sum(1).mean()), 4),
            "val_cos_teacher_lr14": round(float((val_lr * plain[val_rows]).sum(1).mean()), 4),
            "val_cos_hr_lr14": round(float((val_hr * val_lr).sum(1).mean()), 4),
        }, None

    def save(_epoch: int) -> None:
        torch.save({"preset": args.preset, "state_dict": model.state_dict()}, args.out / "backbone.pt")

    figures = ("distill", "logexp", "cosface")
    fit(model, optimiser, train_rows, step, validate, save, run=args, log=log, figures=figures, digits=6)
    plot_curves(
        log.path,
        ["distill", "logexp", "val_cos_teacher_hr", "val_cos_teacher_lr14"],
        args.out / "curves.png",
        f"backbone {args.preset} (distilled from fr_feature)",
    )
    return args.out / "backbone.pt"


def load_backbone(path: Path) -> torch.nn.Module:
    """A trained backbone from its checkpoint (preset + state_dict)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = backbone(checkpoint["preset"])
    model.load_state_dict(checkpoint["state_dict"])
    return model


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data/celeba_aligned"))
    parser.add_argument("--out", type=Path, default=Path("data/runs/backbone"))
    parser.add_argument("--preset", default="mobilefacenet_xs")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--logexp-weight", type=float, default=1.0)
    parser.add_argument("--cosface-weight", type=float, default=0.0)
    add_run_arguments(parser, epochs=8, max_minutes=20.0, weight_decay=5e-4)


def main(args: argparse.Namespace) -> int:
    """Run the command (``python -m fiqa`` parses its arguments with ``configure``)."""
    train(args)
    return 0
