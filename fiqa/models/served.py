"""The PyTorch network behind a quality card's ONNX file: its input, its rebuild from a training checkpoint
(``model.pt``) and batched prediction.

Both kinds of single-pass quality network map (N, 3, 112, 112) -> (N, 1): a regressor (backbone + head) or
ViT-FIQA's quality-token branch. The checkpoint's preset says which one it is. Training, labelling (a trained
regressor's predictions as labels) and publishing all predict through here, so none of them imports another.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fiqa.models import backbone
from fiqa.models.regressor import QualityRegressor
from fiqa.models.vit import PRESETS as VIT_PRESETS
from fiqa.models.vit import QualityOnly, vit_fiqa
from service.quality.base import network_input
from service.registry import Preprocess

# The normalisation every network trained here expects; cards state exactly this block.
PREPROCESS = Preprocess(alignment="arcface", crop_size=112, channel_order="RGB", mean=127.5, scale=1 / 127.5)


def to_input(pixels: np.ndarray, flip: np.ndarray | None = None) -> torch.Tensor:
    """RGB uint8 (N, 112, 112, 3) -> normalised NCHW tensor (the gateway's own ``network_input``)."""
    pixels = np.asarray(pixels)
    if flip is not None and flip.any():
        pixels = pixels.copy()
        pixels[flip] = pixels[flip][:, :, ::-1]
    return torch.from_numpy(network_input(pixels, PREPROCESS)).contiguous(memory_format=torch.channels_last)


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


def outputs(
    network: nn.Module,
    crops: np.ndarray,
    batch: int = 128,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """``network``'s outputs on uint8 crops, in eval mode and without gradients, ``batch`` crops at a time (each
    normalised batch passed through ``transform`` first, e.g. a degradation)."""
    network.eval()
    parts = []
    with torch.no_grad():
        for start in range(0, len(crops), batch):
            x = to_input(crops[start : start + batch])
            parts.append(network(transform(x) if transform else x))
    return torch.cat(parts)


def predict(network: nn.Module, crops: np.ndarray, batch: int = 128) -> np.ndarray:
    """A quality network's raw (N,) predictions on uint8 crops."""
    return outputs(network, crops, batch)[:, 0].numpy()
