"""Cost of a network per face in multiply-adds: a figure that does not move with the host's load.

Wall time on a shared 2-core VM swings by a third from one hour to the next; the multiply-adds of the
convolutions and linear layers (what dominates a CNN's CPU time) compare models exactly, e.g. a single-pass
regressor against the ten recognition passes of the analytic ``diffiqa`` scorer.
"""

from __future__ import annotations

import torch
from torch import nn

from fiqa.models.mobilefacenet import mobilefacenet
from service.quality.diffiqa import DifFIQAPerturbation
from service.registry import Registry
from service.settings import get_settings


def multiply_adds(model: nn.Module, size: int = 112) -> int:
    """Multiply-adds of one (1, 3, size, size) face through every Conv2d and Linear of ``model``."""
    total = 0

    def count(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1]
            total += output.numel() * (module.in_channels // module.groups) * kernel
        else:
            total += module.in_features * module.out_features

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, size, size))
    finally:
        for hook in hooks:
            hook.remove()
    return total


def diffiqa_multiply_adds() -> int:
    """The analytic scorer's cost per face: 2 + 2n passes of fr_feature, the paper MobileFaceNet (import-teacher)."""
    registry = Registry(get_settings().models_dir)
    passes = DifFIQAPerturbation(registry["diffiqa"], registry).copies
    return passes * multiply_adds(mobilefacenet("mobilefacenet"))
