"""Margin-penalty softmax (CosFace / ArcFace) over class centres, and CR-FIQA's certainty ratio."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MarginSoftmax(nn.Module):
    """Normalised class centres; logits s·(cos θ_y − m) (CosFace) or s·cos(θ_y + m) (ArcFace) for the true class."""

    def __init__(self, embedding: int, classes: int, s: float = 48.0, m: float = 0.4, kind: str = "cosface"):
        super().__init__()
        if kind not in ("cosface", "arcface"):
            raise ValueError(f"unknown margin kind {kind!r}")
        self.s, self.m, self.kind = s, m, kind
        self.weight = nn.Parameter(torch.empty(classes, embedding))
        nn.init.normal_(self.weight, std=0.01)

    def cosines(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(N, classes) cosine of each embedding to each class centre."""
        return F.linear(F.normalize(embeddings), F.normalize(self.weight))

    def logits(self, cosines: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        onehot = F.one_hot(labels, cosines.shape[1]).to(cosines.dtype)
        if self.kind == "cosface":
            target = cosines - self.m
        else:
            target = torch.cos(torch.acos(cosines.clamp(-1 + 1e-7, 1 - 1e-7)) + self.m)
        return self.s * (onehot * target + (1 - onehot) * cosines)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(cross-entropy loss, raw cosines) — the cosines feed the certainty ratio."""
        cosines = self.cosines(embeddings)
        return F.cross_entropy(self.logits(cosines, labels), labels), cosines


def certainty_ratio(cosines: torch.Tensor, labels: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """CR-FIQA: CCS / (NNCCS + 1 + eps), with CCS the cosine to the own class centre and NNCCS the largest
    cosine to any other centre (both on [-1, 1]; the +1 keeps the denominator positive)."""
    ccs = cosines.gather(1, labels[:, None]).squeeze(1)
    others = cosines.scatter(1, labels[:, None], -2.0)
    return ccs / (others.max(dim=1).values + 1.0 + eps)
