"""A small noise-predicting U-Net for 64x64 aligned faces (the CPU-sized stand-in for DifFIQA's DDPM U-Net).

Three levels (64, 32, 16 pixels; 32-64-128 channels by default), one residual block per level on each side,
GroupNorm + SiLU, the timestep as a sinusoidal embedding added inside every block (as in Ho et al.'s DDPM).
No self-attention: at the small steps DifFIQA uses (t <= 100) the model only removes light noise, which is a
local task, and attention would cost the CPU budget. The paper's U-Net has four down/up modules at 112x112.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding (N,) integer steps -> (N, dim), as the transformer positions (DDPM's choice)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class ResBlock(nn.Module):
    """Two 3x3 convolutions with the timestep embedding added between them, plus a (projected) skip."""

    def __init__(self, cin: int, cout: int, tdim: int):
        super().__init__()
        self.norm1, self.conv1 = _norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(tdim, cout)
        self.norm2, self.conv2 = _norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(temb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class UNet(nn.Module):
    """eps_theta(x_t, t): (N, 3, S, S) in [-1, 1] and (N,) steps -> predicted noise (N, 3, S, S)."""

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128)):
        super().__init__()
        self.channels = tuple(channels)
        base = channels[0]
        self.tdim = 4 * base
        self.time = nn.Sequential(nn.Linear(base, self.tdim), nn.SiLU(), nn.Linear(self.tdim, self.tdim))
        self.stem = nn.Conv2d(3, base, 3, padding=1)
        self.down = nn.ModuleList()
        self.pool = nn.ModuleList()
        cin = base
        for level, cout in enumerate(channels):
            self.down.append(ResBlock(cin, cout, self.tdim))
            last = level == len(channels) - 1
            self.pool.append(nn.Identity() if last else nn.Conv2d(cout, cout, 3, stride=2, padding=1))
            cin = cout
        self.middle = ResBlock(cin, cin, self.tdim)
        self.up = nn.ModuleList()
        self.unpool = nn.ModuleList()
        for level, cout in reversed(list(enumerate(channels))):
            self.up.append(ResBlock(cin + cout, cout, self.tdim))
            self.unpool.append(nn.Identity() if level == 0 else nn.Upsample(scale_factor=2, mode="nearest"))
            cin = cout
        self.head = nn.Sequential(_norm(base), nn.SiLU(), nn.Conv2d(base, 3, 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time(timestep_embedding(t, self.channels[0]))
        h = self.stem(x)
        skips = []
        for block, pool in zip(self.down, self.pool, strict=True):
            h = block(h, temb)
            skips.append(h)
            h = pool(h)
        h = self.middle(h, temb)
        for block, unpool in zip(self.up, self.unpool, strict=True):
            h = unpool(block(torch.cat([h, skips.pop()], dim=1), temb))
        return self.head(h)
