"""The DDPM forward process in closed form and its backward process (ancestral, or deterministic DDIM), on the
served schedule.

The betas are the gateway's (``service.quality.diffiqa``: linear 1e-4..0.02, T = 1000), so the forward noising
here is the one the analytic ``diffiqa`` scorer applies. Step t is 1-based as in the paper (x_t after t noising
steps; ``ALPHA_BAR[t - 1]`` is abar_t, abar_0 = 1).
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn

from service.quality.diffiqa import ALPHA_BAR, BETAS, T_STEPS

__all__ = ["T_STEPS", "abar", "backward", "ddim", "q_sample"]


def abar(t: torch.Tensor) -> torch.Tensor:
    """abar_t for 1-based steps (N,) (abar_0 = 1), float32 on t's device."""
    table = torch.as_tensor(ALPHA_BAR, dtype=torch.float32, device=t.device)
    return torch.cat([torch.ones(1, device=t.device), table])[t]


def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps (paper Eq. 2), per sample step ``t`` (N,)."""
    a = abar(t)[:, None, None, None]
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def _abar(s: int) -> float:
    return float(ALPHA_BAR[s - 1]) if s > 0 else 1.0


def _x0(model: nn.Module, x: torch.Tensor, s: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(x0_hat clipped to [-1, 1] as Ho et al. sample, the eps consistent with it) at step ``s``: one pass."""
    a_s = _abar(s)
    eps = model(x, torch.full((x.shape[0],), s, dtype=torch.long, device=x.device))
    x0 = ((x - (1 - a_s) ** 0.5 * eps) / a_s**0.5).clamp(-1.0, 1.0)
    return x0, (x - a_s**0.5 * x0) / (1 - a_s) ** 0.5


@torch.no_grad()
def backward(model: nn.Module, x_t: torch.Tensor, t: int, z: torch.Tensor | None = None) -> torch.Tensor:
    """DDPM ancestral sampling from step ``t`` to 0 (paper Eq. 3-4): t network passes.

    Each step takes the posterior mean mu(x_s, x0_hat) and adds sqrt(beta_tilde_s) z (none at s = 1).
    ``z``: the noises of steps t..2, (t - 1, *x_t.shape) (default: drawn here), so a caller can seed them."""
    x = x_t
    for s in range(t, 0, -1):
        beta, a_s, a_prev = float(BETAS[s - 1]), _abar(s), _abar(s - 1)
        x0, _ = _x0(model, x, s)
        x = (a_prev**0.5 * beta / (1 - a_s)) * x0 + ((1 - beta) ** 0.5 * (1 - a_prev) / (1 - a_s)) * x
        if s > 1:
            noise = torch.randn_like(x) if z is None else z[t - s]
            x = x + ((1 - a_prev) / (1 - a_s) * beta) ** 0.5 * noise
    return x


@torch.no_grad()
def ddim(model: nn.Module, x_t: torch.Tensor, t: int, steps: int) -> torch.Tensor:
    """Deterministic DDIM (eta = 0, Song et al.) from step ``t`` to 0 over ``steps`` evenly spaced steps: ``steps``
    network passes instead of the ancestral process's t (how this CPU affords the backward process)."""
    times = np.unique(np.linspace(t, 0, steps + 1).round().astype(int))[::-1]
    x = x_t
    for s, s_next in itertools.pairwise(times):
        x0, eps = _x0(model, x, int(s))
        x = _abar(int(s_next)) ** 0.5 * x0 + (1 - _abar(int(s_next))) ** 0.5 * eps
    return x
