"""Capture-condition variants of the training-split crops: more samples for the label sources, of new kinds.

The labelled set teaches blur and low resolution (MR-FIQA's degradations); a capture camera also produces bad
light, sensor noise, compression, motion and occluders. Each variant is one training crop under one condition
drawn at a random strength; a label source (DifFIQA: the teacher's embedding stability) then says how much it
matters, so the strengths need not be ranked by hand. Only training-split identities are used, so the validation
split stays unseen. Conditions and ranges (continuous; the evaluation's fixed levels are not reused):

- ``light``: gamma in [0.35, 2.8], contrast x[0.35, 1], and half the time a left-right shading ramp down to x0.25;
- ``noise``: Gaussian noise, sigma [3, 30] grey levels;
- ``jpeg``: JPEG quality [5, 45];
- ``motion``: a motion-blur streak of [3, 13] px at any angle;
- ``occlusion``: a flat rectangle (random grey) over [8, 40] % of the crop at a random place;
- ``compound``: IFQA's blind-restoration degradation (blur, down-scale, noise, JPEG together).

    python -m fiqa make-variants --data data/celeba_aligned --out data/celeba_variants
    python -m fiqa label-diffiqa --data data/celeba_variants

``--kind out-of-frame`` makes another set (issue 14): the crop as ``cv2.warpAffine`` gives it when the face
lies at the edge of its photo, i.e. black beyond one photo edge (or two, at a corner), over [5, 60] % of the
crop (``out_of_frame``). The band is made on the aligned crop, not by re-warping a shifted photo: that is
cheaper and needs no source photos, and it is what the border gives, since the crop is an affine image of the
photo and a photo edge is a straight line in the crop (tilted by the alignment's roll, here up to 20 degrees),
with a one-pixel soft edge like the bilinear warp's. Its DifFIQA labels are computed on the padded crop, so
each label says how much of the face the band left, not how good the photo was. CelebA's own crops rarely
show it (9.8 % of the 6,300 reach outside their photo at all, 1.6 % by over 10 %). ``--count`` draws a seeded
subset of the training-split crops (labelling costs 4-10 recognition passes per crop); ``--split val`` makes
a set to measure on (``train-regressor --measure``), never to train on.

    python -m fiqa make-variants --kind out-of-frame --count 1000 --seed 2 --data data/celeba_aligned \
        --out data/celeba_out_of_frame
"""

from __future__ import annotations

import argparse
import io
import logging
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from fiqa.data.bfr_degrade import degrade as compound_degradation
from fiqa.data.bfr_degrade import motion_kernel
from fiqa.data.celeba import CelebaIndex

log = logging.getLogger(__name__)

CONDITIONS = ("light", "noise", "jpeg", "motion", "occlusion", "compound")


def light(crop: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Gamma, lowered contrast and sometimes a side ramp; strength: mean brightness change on [0, 1]."""
    pixels = crop.astype(np.float32) / 255.0
    gamma = float(np.exp(rng.uniform(np.log(0.35), np.log(2.8))))
    contrast = float(rng.uniform(0.35, 1.0))
    out = pixels**gamma
    out = out.mean() + (out - out.mean()) * contrast
    if rng.random() < 0.5:
        ramp = np.linspace(1.0, float(rng.uniform(0.25, 0.8)), crop.shape[1], dtype=np.float32)
        out = out * (ramp if rng.random() < 0.5 else ramp[::-1])[None, :, None]
    result = np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return result, float(abs(result.mean() - crop.mean()) / 255.0)


def noise(crop: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    sigma = float(rng.uniform(3.0, 30.0))
    return np.clip(crop + rng.normal(0.0, sigma, crop.shape), 0, 255).astype(np.uint8), sigma


def jpeg(crop: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    quality = int(rng.integers(5, 46))
    buffer = io.BytesIO()
    Image.fromarray(crop).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")), float(quality)


def motion(crop: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    length = int(rng.integers(3, 14))
    kernel = motion_kernel(length, float(rng.uniform(0, 180)))
    blurred = cv2.filter2D(crop.astype(np.float32), -1, kernel, borderType=cv2.BORDER_REFLECT)
    return np.clip(blurred + 0.5, 0, 255).astype(np.uint8), float(length)


def occlusion(crop: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    height, width = crop.shape[:2]
    share = float(rng.uniform(0.08, 0.40))
    aspect = float(np.exp(rng.uniform(np.log(0.4), np.log(2.5))))
    h = min(height, max(4, round(np.sqrt(share * height * width / aspect))))
    w = min(width, max(4, round(share * height * width / h)))
    top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
    out = crop.copy()
    out[top : top + h, left : left + w] = int(rng.integers(0, 256))
    return out, h * w / (height * width)


def compound(crop: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    return compound_degradation(crop, rng), 1.0


APPLY = {"light": light, "noise": noise, "jpeg": jpeg, "motion": motion, "occlusion": occlusion, "compound": compound}


OUT_OF_FRAME_SHARE = (0.05, 0.60)
MAX_TILT_DEG = 20.0
CORNER_PROBABILITY = 0.3


def out_of_frame(
    crop: np.ndarray, rng: np.random.Generator, share: tuple[float, float] = OUT_OF_FRAME_SHARE
) -> tuple[np.ndarray, float]:
    """Black beyond a photo edge crossing the crop: one side, or two adjacent ones (a corner) with probability
    ``CORNER_PROBABILITY``; each edge tilted up to ``MAX_TILT_DEG``. Strength: the black share of the crop."""
    height, width = crop.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    xs -= (width - 1) / 2
    ys -= (height - 1) / 2
    target = float(rng.uniform(*share))
    side = int(rng.integers(0, 4))
    sides = [side, (side + 1) % 4] if rng.random() < CORNER_PROBABILITY else [side]
    split = float(rng.uniform(0.25, 0.75))  # a corner: both edges cut visibly into the crop
    parts = [target * split, target * (1.0 - split)] if len(sides) > 1 else [target]
    keep = np.ones((height, width), dtype=np.float32)
    for towards, part in zip(sides, parts, strict=True):
        angle = np.deg2rad(90.0 * towards + rng.uniform(-MAX_TILT_DEG, MAX_TILT_DEG))
        outward = xs * np.cos(angle) + ys * np.sin(angle)  # distance towards the edge that leaves the photo
        edge = np.quantile(outward, 1.0 - part)
        keep *= 1.0 - np.clip(outward - edge + 0.5, 0.0, 1.0)  # a one-pixel soft edge, as the bilinear warp's
    padded = np.clip(crop.astype(np.float32) * keep[:, :, None] + 0.5, 0, 255).astype(np.uint8)
    return padded, float(1.0 - keep.mean())


def make_variants(crops: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One variant per crop, conditions in equal shares: (variants, condition index, strength)."""
    rng = np.random.default_rng(seed)
    condition = rng.integers(0, len(CONDITIONS), size=len(crops))
    out = np.empty_like(crops)
    strength = np.empty(len(crops), dtype=np.float32)
    for row, (crop, kind) in enumerate(zip(crops, condition, strict=True)):
        out[row], strength[row] = APPLY[CONDITIONS[kind]](np.asarray(crop), rng)
    return out, condition, strength


def build(data: Path, out: Path, seed: int, split: str = "train") -> int:
    """Variants of ``data``'s ``split`` crops into ``out`` (``crops112.npy`` + ``variants.npz``); returns N."""
    index = CelebaIndex.load(data / "index.npz")
    rows = np.flatnonzero(index.split == split)
    crops = np.load(data / "crops112.npy", mmap_mode="r")[rows]
    variants, condition, strength = make_variants(crops, seed)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "crops112.npy", variants)
    np.savez(out / "variants.npz", source_row=rows, condition=condition, strength=strength, names=CONDITIONS)
    log.info("%d variants of %s-split crops: %s", len(rows), split, np.bincount(condition).tolist())
    return len(rows)


def build_out_of_frame(data: Path, out: Path, seed: int, count: int | None = None, split: str = "train") -> int:
    """Out-of-frame variants of a seeded ``count`` of ``data``'s ``split`` crops (all when ``None``), in the
    layout ``build`` writes (condition 0 = ``out_of_frame``, strength = black share); returns N."""
    index = CelebaIndex.load(data / "index.npz")
    rows = np.flatnonzero(index.split == split)
    rng = np.random.default_rng(seed)
    if count is not None and count < len(rows):
        rows = np.sort(rng.choice(rows, size=count, replace=False))
    crops = np.load(data / "crops112.npy", mmap_mode="r")
    variants = np.empty((len(rows), *crops.shape[1:]), dtype=np.uint8)
    strength = np.empty(len(rows), dtype=np.float32)
    for number, row in enumerate(rows):
        variants[number], strength[number] = out_of_frame(np.asarray(crops[row]), rng)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "crops112.npy", variants)
    np.savez(
        out / "variants.npz",
        source_row=rows,
        condition=np.zeros(len(rows), dtype=np.int64),
        strength=strength,
        names=("out_of_frame",),
    )
    log.info(
        "%d out-of-frame variants of %s-split crops: black share median %.3f, 10-90 %% %.3f-%.3f",
        len(rows),
        split,
        np.median(strength),
        *np.percentile(strength, [10, 90]),
    )
    return len(rows)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data/celeba_aligned"))
    parser.add_argument("--out", type=Path, default=Path("data/celeba_variants"))
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument(
        "--kind",
        choices=["conditions", "out-of-frame"],
        default="conditions",
        help="capture conditions (one per training crop) or crops reaching outside their photo (black bands)",
    )
    parser.add_argument("--count", type=int, default=None, help="out-of-frame: this many crops (seeded draw)")
    parser.add_argument(
        "--split",
        choices=["train", "val"],
        default="train",
        help="out-of-frame: whose crops; a val set is for measuring only, never an --extra training set",
    )


def main(args: argparse.Namespace) -> int:
    """Run the command (``python -m fiqa`` parses its arguments with ``configure``)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.kind == "out-of-frame":
        build_out_of_frame(args.data, args.out, args.seed, args.count, args.split)
    else:
        build(args.data, args.out, args.seed)
    return 0
