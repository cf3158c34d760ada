"""Train IFQA (generator + U-Net discriminator) on the aligned CelebA subset, then export D to ONNX.

Reproducible command (CPU, one thread; data from ``python -m fiqa prepare-celeba``)::

    OMP_NUM_THREADS=1 .venv/bin/python -m fiqa ifqa-train --data data/celeba_aligned --out data/ifqa \
        --steps 800 --batch 8 --seed 0 --threads 1 --export models/ifqa/model.onnx

Objective (seed Eq. 3-7): least-squares adversarial loss; D's real target is the face mask of HQ images
(Eq. 6), LQ and restored (RF) images are fake, and FPRS mixes (Eq. 2) carry labels that follow the swap;
the generator adds a pixel (MSE) loss x50 and a perceptual loss x5. No VGG-19 weights exist offline, so the
perceptual features are those of the discriminator's own encoder stages (L1 between RF and HQ features,
feature matching), not ImageNet VGG pool features.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from insightface.utils.face_align import estimate_norm
from torch.nn import functional as F

from fiqa.data import bfr_degrade as degrade
from fiqa.ifqa import regions
from fiqa.ifqa.networks import Generator, UNetDiscriminator
from service.quality.base import resize_crops

log = logging.getLogger(__name__)

SIZE = 64  # network input: the gateway's 112 ArcFace crop (margin 0), area-resized
ALIGNED = 112
LAMBDA_PIX = 50.0
LAMBDA_PERCEPTUAL = 5.0


@dataclass
class FaceSet:
    """HQ faces at the training size with their landmarks and face masks (crop pixels)."""

    images: np.ndarray  # (N, S, S, 3) uint8 RGB
    landmarks: np.ndarray  # (N, 5, 2) float32
    masks: np.ndarray  # (N, S, S) float32


def crop_landmarks(frame_landmarks: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Frame landmarks -> positions in the size x size crop (the same similarity transform as service.align)."""
    out = np.empty_like(frame_landmarks, dtype=np.float32)
    for row, points in enumerate(frame_landmarks):
        matrix = estimate_norm(np.asarray(points, dtype=np.float32), ALIGNED)
        out[row] = points @ matrix[:, :2].T + matrix[:, 2]
    return out * (size / ALIGNED)


def make_faceset(crops112: np.ndarray, frame_landmarks: np.ndarray, size: int = SIZE) -> FaceSet:
    landmarks = crop_landmarks(frame_landmarks, size)
    masks = np.stack([regions.face_mask(points, size) for points in landmarks])
    return FaceSet(resize_crops(np.asarray(crops112), size), landmarks, masks)


def load_celeba(data: Path, split: str = "train", size: int = SIZE) -> FaceSet:
    """The prepared CelebA subset (fiqa.data.celeba) of one identity split."""
    from fiqa.data.celeba import load_crops

    index, crops = load_crops(data)
    keep = np.flatnonzero(index.mask(split))
    return make_faceset(np.asarray(crops[keep]), index.landmarks[keep], size)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) RGB -> float (N, 3, H, W) in [-1, 1] (the card's mean 127.5, scale 1/127.5)."""
    return torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2).contiguous()


@dataclass
class Batch:
    hq: torch.Tensor  # (B, 3, S, S)
    lq: torch.Tensor
    face: torch.Tensor  # (B, 1, S, S) M_FACE
    fprs: torch.Tensor  # (B, 1, S, S) M_FPRS


def sample_batch(faces: FaceSet, batch: int, rng: np.random.Generator) -> Batch:
    """Random faces (mirrored half of the time), their fresh degradations and FPRS masks."""
    size = faces.images.shape[1]
    rows = rng.integers(0, len(faces.images), batch)
    hq, lq, face, fprs = [], [], [], []
    for row in rows:
        image, points, mask = faces.images[row], faces.landmarks[row], faces.masks[row]
        if rng.random() < 0.5:
            image, points, mask = image[:, ::-1], regions.flip_landmarks(points, size), mask[:, ::-1]
        image = np.ascontiguousarray(image)
        hq.append(image)
        lq.append(degrade.degrade(image, rng))
        face.append(mask)
        fprs.append(regions.fprs_mask(points, size, rng))
    as_mask = lambda masks: torch.from_numpy(np.stack(masks).astype(np.float32))[:, None]  # noqa: E731
    return Batch(to_tensor(np.stack(hq)), to_tensor(np.stack(lq)), as_mask(face), as_mask(fprs))


def discriminator_batch(batch: Batch, restored: torch.Tensor, rng: np.random.Generator):
    """Inputs and per-pixel targets for D (Eq. 6 with FPRS, Eq. 2).

    Rows: HQ (target M_FACE), a fake per face (LQ or RF, target 0), and an FPRS mix per face in a random
    direction: HQ->fake = M ⊙ HQ + (1-M) ⊙ fake (target M ⊙ M_FACE) or fake->HQ = M ⊙ fake + (1-M) ⊙ HQ
    (target (1-M) ⊙ M_FACE). Real pixels are HQ pixels inside the face, everything else is 0.
    """
    count = batch.hq.shape[0]
    use_restored = torch.from_numpy(rng.random(count) < 0.5)[:, None, None, None]
    fake = torch.where(use_restored, restored, batch.lq)
    hq_inside = torch.from_numpy(rng.random(count) < 0.5)[:, None, None, None]
    m = batch.fprs
    keep_hq = torch.where(hq_inside, m, 1.0 - m)  # where the mix shows HQ pixels
    mixed = keep_hq * batch.hq + (1.0 - keep_hq) * fake
    inputs = torch.cat([batch.hq, fake, mixed])
    targets = torch.cat([batch.face, torch.zeros_like(batch.face), keep_hq * batch.face])
    return inputs, targets


def generator_loss(d: UNetDiscriminator, batch: Batch, restored: torch.Tensor) -> dict[str, torch.Tensor]:
    """Eq. 3 + 50 x pixel (Eq. 4, MSE) + 5 x perceptual (Eq. 5 on D's encoder features)."""
    adversarial = ((d(restored) - 1.0) ** 2).mean()
    pixel = F.mse_loss(restored, batch.hq)
    with torch.no_grad():
        target_features = d.encode(batch.hq)
    perceptual = sum(
        (F.l1_loss(a, b) for a, b in zip(d.encode(restored), target_features, strict=True)), torch.zeros(())
    )
    total = adversarial + LAMBDA_PIX * pixel + LAMBDA_PERCEPTUAL * perceptual
    return {"total": total, "adv": adversarial, "pix": pixel, "perc": perceptual}


def train(
    faces: FaceSet,
    *,
    steps: int,
    batch: int,
    seed: int,
    lr: float = 2e-4,
    log_every: int = 50,
    checkpoint: Path | None = None,
) -> tuple[Generator, UNetDiscriminator, list[dict[str, float]]]:
    """Alternate D and G updates (Adam, betas 0.5/0.999) for ``steps`` steps; seeded end to end.

    With ``checkpoint``, D's weights are saved there at every log line (to inspect a run while it goes)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    g, d = Generator(), UNetDiscriminator()
    opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=(0.5, 0.999))
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    for step in range(1, steps + 1):
        data = sample_batch(faces, batch, rng)
        g.train()
        restored = g(data.lq)

        inputs, targets = discriminator_batch(data, restored.detach(), rng)
        d_loss = ((d(inputs) - targets) ** 2).mean()  # Eq. 6 (least squares)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        g_losses = generator_loss(d, data, restored)
        opt_g.zero_grad(set_to_none=True)
        g_losses["total"].backward()
        opt_g.step()
        opt_d.zero_grad(set_to_none=True)  # G's backward also reached D's weights; never applied

        record = {"step": step, "d": d_loss.item(), **{f"g_{k}": v.item() for k, v in g_losses.items()}}
        history.append(record)
        if step % log_every == 0 or step == steps:
            recent = history[-log_every:]
            means = {key: np.mean([r[key] for r in recent]) for key in record if key != "step"}
            log.info(
                "step %d/%d %.0f s  %s",
                step,
                steps,
                time.perf_counter() - start,
                " ".join(f"{k}={v:.4f}" for k, v in means.items()),
            )
            if checkpoint is not None:
                torch.save(d.state_dict(), checkpoint)
    return g.eval(), d.eval(), history


def export(d: UNetDiscriminator, path: Path, size: int = SIZE) -> float:
    """D -> ONNX (input ``image`` (N,3,S,S), output ``map`` (N,1,S,S), batch dynamic); max |ort - torch|."""
    from export.onnx_export import export_onnx

    example = torch.rand(2, 3, size, size) * 2 - 1
    report = export_onnx(d, example, path, ["image"], ["map"])
    log.info(
        "exported %s, parity max abs diff %.3g, TensorRT risks %s", path, report.max_abs_diff, report.tensorrt_risks
    )
    return report.max_abs_diff


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data/celeba_aligned"), help="fiqa.data.celeba output")
    parser.add_argument("--out", type=Path, default=Path("data/ifqa"), help="checkpoints and training log")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--export", type=Path, default=None, help="write D as ONNX here (e.g. models/ifqa/model.onnx)")


def main(args: argparse.Namespace) -> int:
    """Run the command (``python -m fiqa`` parses its arguments with ``configure``)."""
    torch.set_num_threads(args.threads)
    faces = load_celeba(args.data, "train")
    log.info("training on %d CelebA train-split faces at %dx%d", len(faces.images), SIZE, SIZE)
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    g, d, history = train(
        faces, steps=args.steps, batch=args.batch, seed=args.seed, checkpoint=args.out / "discriminator_last.pt"
    )
    seconds = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "generator": g.state_dict(),
            "discriminator": d.state_dict(),
            "args": vars(args) | {"data": str(args.data), "out": str(args.out), "export": str(args.export)},
        },
        args.out / "ifqa.pt",
    )
    summary = {
        "steps": args.steps,
        "batch": args.batch,
        "seed": args.seed,
        "threads": args.threads,
        "train_faces": len(faces.images),
        "train_seconds": round(seconds, 1),
        "last": history[-1],
    }
    if args.export is not None:
        summary["parity_max_abs_diff"] = export(d, args.export)
    (args.out / "train_summary.json").write_text(json.dumps(summary, indent=2))
    (args.out / "history.json").write_text(json.dumps(history))
    log.info("done: %s", summary)
    return 0
