"""The PyTorch network behind a quality card's ONNX file, rebuilt from a training checkpoint (``model.pt``).

Both kinds of single-pass quality network map (N, 3, 112, 112) -> (N, 1): a regressor (backbone + head) or
ViT-FIQA's quality-token branch. The checkpoint's preset says which one it is.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from fiqa.models import backbone
from fiqa.models.regressor import QualityRegressor
from fiqa.models.vit import PRESETS as VIT_PRESETS
from fiqa.models.vit import QualityOnly, vit_fiqa


def load_served(path: Path) -> nn.Module:
    """The served graph in eval mode: ``QualityRegressor`` or ``QualityOnly`` (ViT-FIQA)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    preset = checkpoint["preset"]
    if preset in VIT_PRESETS:
        vit = vit_fiqa(preset)
        vit.load_state_dict(checkpoint["state_dict"])
        return QualityOnly(vit).eval()
    model = QualityRegressor(backbone(preset))
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()
