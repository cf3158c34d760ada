"""LogExp feature-constraint loss of the LRFR seed: L = 1/(p·D) · log(1 + Σ_i (exp(|x_i − y_i|^p) − 1)).

Between L1 and L2: each dimension's gradient grows with its own error, yet stays large near convergence, and
dimensions with larger errors get relatively more of it (the log shares the sum over dimensions).
"""

from __future__ import annotations

import torch


def logexp(x: torch.Tensor, y: torch.Tensor, p: float = 1.0) -> torch.Tensor:
    """Mean over the batch of the LogExp distance between rows of ``x`` and ``y`` (N, D)."""
    dim = x.shape[-1]
    terms = torch.expm1(torch.abs(x - y).pow(p)).sum(dim=-1)
    return (torch.log1p(terms) / (p * dim)).mean()
