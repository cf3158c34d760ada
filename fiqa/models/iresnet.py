"""iResNet (the ArcFace / insightface improved ResNet): 112x112 -> 512-D, presets 18 / 50 / 100.

Parameter names follow the layout most official FIQA checkpoints use (``conv1``, ``layerK.i.bn1``, ``fc``,
``features``), so ``fiqa.checkpoints`` only has to strip wrappers and rename heads.
"""

from __future__ import annotations

import torch
from torch import nn

LAYERS = {
    "iresnet18": (2, 2, 2, 2),
    "iresnet34": (3, 4, 6, 3),
    "iresnet50": (3, 4, 14, 3),
    "iresnet100": (3, 13, 30, 3),
}


class IBasicBlock(nn.Module):
    """BN -> conv3x3 -> BN -> PReLU -> conv3x3(stride) -> BN, plus (projected) identity."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, eps=1e-5)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-5)
        self.prelu = nn.PReLU(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout, eps=1e-5)
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout, eps=1e-5))
            if stride != 1 or cin != cout
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


class IResNet(nn.Module):
    """(N, 3, 112, 112) -> (N, embedding); ``width`` scales channels (1.0 = official)."""

    def __init__(self, layers=(3, 4, 14, 3), embedding: int = 512, width: float = 1.0, dropout: float = 0.0):
        super().__init__()
        widths = [max(8, int(c * width)) for c in (64, 128, 256, 512)]
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0], eps=1e-5)
        self.prelu = nn.PReLU(widths[0])
        cin = widths[0]
        for number, (count, cout) in enumerate(zip(layers, widths, strict=True), start=1):
            blocks = [IBasicBlock(cin, cout, 2)] + [IBasicBlock(cout, cout, 1) for _ in range(count - 1)]
            setattr(self, f"layer{number}", nn.Sequential(*blocks))
            cin = cout
        self.bn2 = nn.BatchNorm2d(cin, eps=1e-5)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin * 7 * 7, embedding)
        self.features = nn.BatchNorm1d(embedding, eps=1e-5)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad = False

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.dropout(self.bn2(x).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(self.fc(self.trunk(x)))


def iresnet(preset: str = "iresnet50", embedding: int = 512, width: float = 1.0) -> IResNet:
    return IResNet(LAYERS[preset], embedding, width)


class IResNetQuality(IResNet):
    """CR-FIQA's network: iResNet plus a ``qs`` linear head on the embedding; returns (embedding, quality)."""

    def __init__(self, layers=(3, 4, 14, 3), embedding: int = 512, width: float = 1.0):
        super().__init__(layers, embedding, width)
        self.qs = nn.Linear(embedding, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        embedding = super().forward(x)
        return embedding, self.qs(embedding)
