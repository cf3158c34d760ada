"""Networks: face-recognition backbones (MobileFaceNet, iResNet), quality regressors and ViT-FIQA."""

from __future__ import annotations

from torch import nn

from fiqa.models.iresnet import IResNet, iresnet
from fiqa.models.mobilefacenet import MobileFaceNet, mobilefacenet


def backbone(preset: str, embedding: int = 512) -> nn.Module:
    """A 112x112 -> ``embedding``-D face-recognition backbone by preset name."""
    if preset.startswith("mobilefacenet"):
        return mobilefacenet(preset, embedding)
    if preset.startswith("iresnet"):
        return iresnet(preset, embedding)
    raise ValueError(f"unknown backbone preset {preset!r}")


__all__ = ["IResNet", "MobileFaceNet", "backbone", "iresnet", "mobilefacenet"]
