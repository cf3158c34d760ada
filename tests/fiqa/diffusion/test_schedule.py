"""The forward process in closed form (paper Eq. 2) is the iterated Markov chain (Eq. 1); the backward
processes return to the data when the network predicts the true noise."""

from __future__ import annotations

import numpy as np
import torch

from fiqa.diffusion.schedule import abar, backward, ddim, q_sample
from service.quality.diffiqa import BETAS


def iterate_forward(x0: torch.Tensor, t: int, generator: torch.Generator) -> torch.Tensor:
    """x_s = sqrt(1 - beta_s) x_{s-1} + sqrt(beta_s) eps_s, s = 1..t."""
    x = x0
    for s in range(1, t + 1):
        beta = float(BETAS[s - 1])
        x = (1 - beta) ** 0.5 * x + beta**0.5 * torch.randn(x.shape, generator=generator)
    return x


def test_closed_form_moments_are_the_iterated_chain() -> None:
    mean_gain, variance = 1.0, 0.0
    for s in range(1, 101):
        beta = float(BETAS[s - 1])
        mean_gain *= (1 - beta) ** 0.5
        variance = (1 - beta) * variance + beta
        step = torch.tensor([s])
        assert abs(abar(step).sqrt().item() - mean_gain) < 1e-6
        assert abs((1 - abar(step)).item() - variance) < 1e-6


def test_closed_form_samples_match_iterated_samples() -> None:
    generator = torch.Generator().manual_seed(0)
    x0 = torch.full((20000, 1, 1, 1), 0.6)
    for t in (5, 50, 300):
        iterated = iterate_forward(x0, t, generator)
        closed = q_sample(x0, torch.full((len(x0),), t), torch.randn(x0.shape, generator=generator))
        # means and spreads agree within sampling error (20000 draws: ~4 standard errors)
        assert abs(iterated.mean() - closed.mean()) < 4 * closed.std() * (2 / len(x0)) ** 0.5
        assert abs(iterated.std() / closed.std() - 1) < 0.03
        assert abs(closed.mean().item() - 0.6 * abar(torch.tensor([t])).sqrt().item()) < 0.02


class Oracle(torch.nn.Module):
    """Predicts the exact noise of x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps for a known x0."""

    def __init__(self, x0: torch.Tensor):
        super().__init__()
        self.x0 = x0

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = abar(t)[:, None, None, None]
        return (x - a.sqrt() * self.x0) / (1 - a).sqrt()


def test_backward_processes_recover_x0_with_a_perfect_noise_predictor() -> None:
    generator = torch.Generator().manual_seed(1)
    x0 = torch.rand((4, 3, 8, 8), generator=generator) * 1.6 - 0.8
    t = 10
    x_t = q_sample(x0, torch.full((4,), t), torch.randn(x0.shape, generator=generator))
    oracle = Oracle(x0)
    assert torch.allclose(ddim(oracle, x_t, t, steps=2), x0, atol=1e-4)
    assert torch.allclose(ddim(oracle, x_t, t, steps=t), x0, atol=1e-4)
    # ancestral: the posterior noise added on the way is small at t = 10 (beta_tilde <= 2.3e-4)
    restored = backward(oracle, x_t, t, torch.randn((t - 1, *x0.shape), generator=generator))
    assert (restored - x0).abs().max() < 0.06
    assert (restored - x0).pow(2).mean() < (x_t - x0).pow(2).mean() / 4
    assert np.isfinite(restored.numpy()).all()
