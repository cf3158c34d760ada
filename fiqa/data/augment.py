"""Multi-resolution augmentation of the LRFR seed: HR face -> bicubic down to 7/14/20 px (1:1:2) -> back to 112."""

from __future__ import annotations

import torch
import torch.nn.functional as F

RESOLUTIONS = (7, 14, 20)
RATIO = (1, 1, 2)


def sample_resolutions(count: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``count`` target sizes drawn with probabilities proportional to ``RATIO``."""
    weights = torch.tensor(RATIO, dtype=torch.float)
    picks = torch.multinomial(weights, count, replacement=True, generator=generator)
    return torch.tensor(RESOLUTIONS)[picks]


def degrade(batch: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) -> bicubic (antialiased) down to ``size`` px and bicubic back up to H x W."""
    height, width = batch.shape[-2:]
    low = F.interpolate(batch, size=(size, size), mode="bicubic", align_corners=False, antialias=True)
    return F.interpolate(low, size=(height, width), mode="bicubic", align_corners=False)


def multi_resolution(
    batch: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """LR copies of an HR batch, each at a resolution drawn 7:14:20 = 1:1:2; returns (LR batch, sizes)."""
    sizes = sample_resolutions(batch.shape[0], generator)
    out = torch.empty_like(batch)
    for size in RESOLUTIONS:
        rows = (sizes == size).nonzero().flatten()
        if rows.numel():
            out[rows] = degrade(batch[rows], size)
    return out, sizes
