"""Single-pass quality regressor: a face-recognition backbone plus an MLP head on its embedding (DifFIQA(R)).

The same architecture serves every label source (DifFIQA, MR-FIQA): only the training labels differ.
"""

from __future__ import annotations

import torch
from torch import nn


class QualityRegressor(nn.Module):
    """(N, 3, 112, 112) normalised face -> (N, 1) raw quality (higher is better)."""

    def __init__(self, backbone: nn.Module, embedding: int = 512, hidden: int = 128):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Sequential(nn.Linear(embedding, hidden), nn.PReLU(hidden), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))
