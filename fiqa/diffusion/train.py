"""``python -m fiqa train-ddpm``: train DifFIQA's denoising diffusion model (noise prediction) on aligned faces.

Reproducible command (CPU, one thread; data from ``prepare-celeba`` and ``prepare-utkface``)::

    python -m fiqa train-ddpm --minutes 38 --seed 0 --threads 1 --out models/diffiqa_ddpm

Data: the identity-free training faces: the CelebA subset's training identities and every UTKFace aligned crop
(never LFW View-2, ORL or Yale); the CelebA validation identities give the held-out loss. The 112x112 ArcFace
crops are area-resized to 64x64 (the CPU budget), mirrored at random.

Objective: Ho et al.'s simple loss ||eps - eps_theta(x_t, t)||^2 with t drawn uniformly from 1..T' (T' = 100,
as DifFIQA trains only the partly noisy steps it conditions on; T = 1000 for the schedule). Not done: the
paper's time-dependent BSRGAN degradations (Eq. 6) and its x0 target (Eq. 5); eps and x0 prediction are the
same model up to the closed form, the degradations would teach restoration beyond denoising.

Writes ``model.pt`` (weights of the validation-best of the raw and EMA weights, channels, sizes) and
``facts.json`` (steps, losses, minutes, data counts) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from fiqa.diffusion.schedule import q_sample
from fiqa.diffusion.unet import UNet
from service.quality.base import resize_crops

log = logging.getLogger(__name__)

SIZE = 64  # the network's side: the gateway's 112 ArcFace crop, area-resized
T_TRAIN = 100  # T': the largest step trained on (DifFIQA, Implementation Details)
EMA_DECAY = 0.995  # short runs: a short EMA horizon (~200 steps)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, S, S, 3) RGB -> float (N, 3, S, S) on [-1, 1]."""
    return torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2).contiguous()


def load_faces(celeba: Path, utkface: Path | None, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(training faces, validation faces) as uint8 (N, size, size, 3): CelebA train identities + UTKFace, and
    CelebA validation identities."""
    from fiqa.data.celeba import load_crops

    index, crops = load_crops(celeba)
    train = [resize_crops(np.asarray(crops[index.mask("train")]), size)]
    if utkface is not None:
        train.append(resize_crops(np.load(utkface / "crops112.npy", mmap_mode="r")[:], size))
    return np.concatenate(train), resize_crops(np.asarray(crops[index.mask("val")]), size)


def sample_batch(faces: np.ndarray, batch: int, rng: np.random.Generator) -> torch.Tensor:
    """Random faces, each mirrored with probability 1/2."""
    rows = faces[rng.integers(0, len(faces), batch)]
    flip = rng.random(batch) < 0.5
    rows[flip] = rows[flip, :, ::-1]
    return to_tensor(rows)


def diffusion_loss(model: torch.nn.Module, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the predicted noise at steps ``t``."""
    return ((model(q_sample(x0, t, noise), t) - noise) ** 2).mean()


class Validation:
    """A fixed held-out loss: the same faces, steps and noise at every evaluation (comparable across a run)."""

    def __init__(self, faces: np.ndarray, count: int, seed: int, batch: int = 64):
        rng = np.random.default_rng([seed, 1])
        rows = np.sort(rng.choice(len(faces), size=min(count, len(faces)), replace=False))
        self.x0 = to_tensor(faces[rows])
        generator = torch.Generator().manual_seed(seed)
        self.t = torch.randint(1, T_TRAIN + 1, (len(rows),), generator=generator)
        self.noise = torch.randn(self.x0.shape, generator=generator)
        self.batch = batch

    @torch.no_grad()
    def loss(self, model: torch.nn.Module) -> float:
        model.eval()
        total = 0.0
        for start in range(0, len(self.x0), self.batch):
            part = slice(start, start + self.batch)
            count = len(self.x0[part])
            total += diffusion_loss(model, self.x0[part], self.t[part], self.noise[part]).item() * count
        model.train()
        return total / len(self.x0)


def train(
    faces: np.ndarray,
    validation: Validation,
    *,
    minutes: float,
    batch: int,
    seed: int,
    lr: float = 2e-4,
    channels: tuple[int, ...] = (32, 64, 128),
    validate_every: int = 200,
    max_steps: int | None = None,
) -> tuple[UNet, dict]:
    """Adam on the eps loss until the wall-clock budget (or ``max_steps``); returns the validation-best of the
    raw and EMA weights at the checks, and the run's facts."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = UNet(channels)
    ema = UNet(channels)
    ema.load_state_dict(model.state_dict())
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    history: list[dict] = []
    best = {"val_loss": float("inf")}
    best_state: dict = {}
    start = time.perf_counter()
    step, recent = 0, []
    while True:
        elapsed = (time.perf_counter() - start) / 60
        done = elapsed >= minutes or (max_steps is not None and step >= max_steps)
        if step and (step % validate_every == 0 or done):
            record = {
                "step": step,
                "minutes": round(elapsed, 2),
                "train_loss": float(np.mean(recent)),
                "val_loss": validation.loss(model),
                "val_loss_ema": validation.loss(ema),
            }
            history.append(record)
            recent = []
            log.info("%s", json.dumps(record))
            for name, module in (("raw", model), ("ema", ema)):
                value = record["val_loss" if name == "raw" else "val_loss_ema"]
                if value < best["val_loss"]:
                    best = {"step": step, "weights": name, "val_loss": value}
                    best_state = {key: v.clone() for key, v in module.state_dict().items()}
        if done:
            break
        x0 = sample_batch(faces, batch, rng)
        t = torch.randint(1, T_TRAIN + 1, (batch,))
        loss = diffusion_loss(model, x0, t, torch.randn_like(x0))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        with torch.no_grad():
            for target, source in zip(ema.parameters(), model.parameters(), strict=True):
                target.lerp_(source, 1 - EMA_DECAY)
        recent.append(loss.item())
        step += 1
    chosen = UNet(channels)
    chosen.load_state_dict(best_state)
    facts = {
        "steps": step,
        "batch": batch,
        "lr": lr,
        "seed": seed,
        "minutes": round((time.perf_counter() - start) / 60, 2),
        "best": best,
        "history": history,
    }
    return chosen.eval(), facts


def save(model: UNet, facts: dict, out: Path) -> None:
    """``model.pt`` (weights + what rebuilds the module) and ``facts.json`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"state_dict": model.state_dict(), "channels": list(model.channels), "size": SIZE, "t_train": T_TRAIN},
        out / "model.pt",
    )
    (out / "facts.json").write_text(json.dumps(facts, indent=1) + "\n")


def load(path: Path) -> UNet:
    """A saved model in eval mode."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = UNet(tuple(saved["channels"]))
    model.load_state_dict(saved["state_dict"])
    return model.eval()


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--celeba", type=Path, default=Path("data/celeba_aligned"), help="prepare-celeba output")
    parser.add_argument("--utkface", type=Path, default=Path("data/utkface_aligned"), help="prepare-utkface output")
    parser.add_argument("--out", type=Path, default=Path("models/diffiqa_ddpm"))
    parser.add_argument("--minutes", type=float, default=38.0, help="wall-clock training budget")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--channels", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--val-count", type=int, default=256, help="held-out CelebA validation faces in the loss")
    parser.add_argument("--validate-every", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)


def main(args: argparse.Namespace) -> int:
    """Run the command (``python -m fiqa`` parses its arguments with ``configure``)."""
    torch.set_num_threads(args.threads)
    faces, held_out = load_faces(args.celeba, args.utkface)
    log.info("%d training faces, %d validation faces at %dx%d", len(faces), len(held_out), SIZE, SIZE)
    validation = Validation(held_out, args.val_count, args.seed)
    model, facts = train(
        faces,
        validation,
        minutes=args.minutes,
        batch=args.batch,
        seed=args.seed,
        lr=args.lr,
        channels=tuple(args.channels),
        validate_every=args.validate_every,
        max_steps=args.max_steps,
    )
    facts |= {
        "size": SIZE,
        "t_train": T_TRAIN,
        "channels": list(args.channels),
        "parameters": sum(p.numel() for p in model.parameters()),
        "threads": args.threads,
        "train_faces": len(faces),
        "validation_faces": len(validation.x0),
        "data": {"celeba": str(args.celeba), "utkface": str(args.utkface)},
        "command": "python -m fiqa train-ddpm " + shlex.join(sys.argv[2:]),
    }
    save(model, facts, args.out)
    log.info("done: %d steps in %.1f min, best %s", facts["steps"], facts["minutes"], facts["best"])
    return 0
