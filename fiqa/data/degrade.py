"""Controlled degradations of aligned crops with the MR-FIQA seed's intensity distributions.

Blur σ and the down-sampling factor are each drawn from five intensity levels — none / (0,1.6] / (1.6,2.5] /
(2.5,4] / (4,8] for σ and none / (1,2.6] / (2.6,3.5] / (3.5,5] / (5,9] for the factor — with probabilities
15/65/10/8/2 %, uniformly inside a level. The level's rank (5 = none ... 1 = strongest) feeds MR-FIQA's s_d.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

LEVEL_PROBABILITIES = (0.15, 0.65, 0.10, 0.08, 0.02)
BLUR_LEVELS = ((0.0, 0.0), (0.0, 1.6), (1.6, 2.5), (2.5, 4.0), (4.0, 8.0))
DOWN_LEVELS = ((1.0, 1.0), (1.0, 2.6), (2.6, 3.5), (3.5, 5.0), (5.0, 9.0))


@dataclass(frozen=True)
class Degradation:
    """One drawn degradation: intensity levels (0 = none ... 4 = strongest) and values."""

    blur_level: int
    sigma: float
    down_level: int
    factor: float

    @property
    def ranks(self) -> tuple[int, int]:
        """Ranks of the blur and down-sampling intensities: 5 for none ... 1 for the strongest level."""
        levels = len(LEVEL_PROBABILITIES)
        return levels - self.blur_level, levels - self.down_level


def _draw(rng: np.random.Generator, levels: tuple[tuple[float, float], ...]) -> tuple[int, float]:
    level = int(rng.choice(len(levels), p=LEVEL_PROBABILITIES))
    low, high = levels[level]
    # (low, high]: 1 - U[0,1) is in (0, 1]
    return level, float(high - (high - low) * rng.random()) if high > low else low


def sample(rng: np.random.Generator) -> Degradation:
    blur_level, sigma = _draw(rng, BLUR_LEVELS)
    down_level, factor = _draw(rng, DOWN_LEVELS)
    return Degradation(blur_level, sigma, down_level, factor)


def apply(crop: np.ndarray, degradation: Degradation) -> np.ndarray:
    """Gaussian blur (σ), then bicubic down-sampling by ``factor`` and back to the crop size."""
    out = crop
    if degradation.sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), degradation.sigma)
    if degradation.factor > 1:
        size = crop.shape[1], crop.shape[0]
        small = (max(1, round(size[0] / degradation.factor)), max(1, round(size[1] / degradation.factor)))
        out = cv2.resize(cv2.resize(out, small, interpolation=cv2.INTER_AREA), size, interpolation=cv2.INTER_CUBIC)
    return out


def degrade_all(crops: np.ndarray, seed: int) -> tuple[np.ndarray, list[Degradation]]:
    """One seeded degradation per crop: (degraded crops, what was drawn)."""
    rng = np.random.default_rng(seed)
    drawn = [sample(rng) for _ in range(len(crops))]
    return np.stack([apply(np.asarray(crop), d) for crop, d in zip(crops, drawn, strict=True)]), drawn


DEGRADED_SEED = 1
DEGRADED_SHARE = 0.5


def degraded_set(
    data: Path, seed: int = DEGRADED_SEED, share: float = DEGRADED_SHARE, force: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One degraded copy of a seeded ``share`` of the crops of ``data/crops112.npy`` (cached):
    (source rows (M,), degraded crops (M, 112, 112, 3), params (M, 4): blur level, σ, down level, factor).

    Half of the photos is enough to teach the low-quality end and halves the labelling cost on a 2-core CPU.
    """
    path = data / f"degraded112_s{seed}.npz"
    if path.exists() and not force:
        with np.load(path) as stored:
            return stored["rows"], stored["crops"], stored["params"]
    crops = np.load(data / "crops112.npy", mmap_mode="r")
    rng = np.random.default_rng([seed, 1])
    rows = np.sort(rng.choice(len(crops), size=round(len(crops) * share), replace=False))
    degraded, drawn = degrade_all(crops[rows], seed)
    params = np.array([(d.blur_level, d.sigma, d.down_level, d.factor) for d in drawn], dtype=np.float64)
    np.savez(path, rows=rows, crops=degraded, params=params)
    return rows, degraded, params


def labelled_set(data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The set every label source covers: all crops, then the degraded copies.
    Returns (crops (N + M, ...), source row per sample, degraded flag per sample)."""
    crops = np.load(data / "crops112.npy")
    rows, degraded, _ = degraded_set(data)
    source = np.concatenate([np.arange(len(crops)), rows])
    flag = np.concatenate([np.zeros(len(crops), bool), np.ones(len(rows), bool)])
    return np.concatenate([crops, degraded]), source, flag
