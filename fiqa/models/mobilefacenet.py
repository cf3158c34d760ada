"""MobileFaceNet (Chen et al. 2018): inverted residual bottlenecks, global depthwise conv, linear 512-D output.

Presets scale width and depth so a CPU can train it: ``mobilefacenet`` is the paper's network (with a 512-D
embedding as in the LRFR seed); ``mobilefacenet_s`` halves the width and shortens the stages; ``mobilefacenet_xs``
(quarter width, one block per stage but two at 14x14) is what a shared 2-core CPU trains in ~20 minutes.
"""

from __future__ import annotations

import torch
from torch import nn

# Stages: (expansion t, output channels c, repeats n, stride s) of the paper's Table 1.
PAPER_STAGES = ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1))
PRESETS: dict[str, tuple[float, tuple[tuple[int, int, int, int], ...]]] = {
    "mobilefacenet": (1.0, PAPER_STAGES),
    "mobilefacenet_s": (0.5, ((2, 64, 2, 2), (4, 128, 1, 2), (2, 128, 2, 1), (4, 128, 1, 2), (2, 128, 1, 1))),
    "mobilefacenet_xs": (0.25, ((2, 64, 1, 2), (4, 128, 1, 2), (2, 128, 2, 1), (4, 128, 1, 2), (2, 128, 1, 1))),
}


def conv_bn(
    cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True, pad: bool = True
) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2 if pad else 0, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.PReLU(cout))
    return nn.Sequential(*layers)


class Bottleneck(nn.Module):
    """Expand 1x1 -> depthwise 3x3 -> linear project 1x1, with a residual when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        self.residual = stride == 1 and cin == cout
        self.body = nn.Sequential(
            conv_bn(cin, hidden, 1),
            conv_bn(hidden, hidden, 3, stride, groups=hidden),
            conv_bn(hidden, cout, 1, act=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class MobileFaceNet(nn.Module):
    """(N, 3, 112, 112) normalised face -> (N, embedding) un-normalised embedding."""

    def __init__(self, width: float = 1.0, stages=PAPER_STAGES, embedding: int = 512):
        super().__init__()

        def ch(channels: int) -> int:
            return max(8, round(channels * width / 8) * 8)

        stem = ch(64)
        self.stem = nn.Sequential(conv_bn(3, stem, 3, 2), conv_bn(stem, stem, 3, groups=stem))
        blocks: list[nn.Module] = []
        cin = stem
        for expansion, channels, repeats, stride in stages:
            for index in range(repeats):
                blocks.append(Bottleneck(cin, ch(channels), stride if index == 0 else 1, expansion))
                cin = ch(channels)
        self.blocks = nn.Sequential(*blocks)
        head = ch(512)
        self.expand = conv_bn(cin, head, 1)
        self.gdconv = conv_bn(
            head, head, 7, groups=head, act=False, pad=False
        )  # global depthwise conv over the 7x7 map
        self.project = nn.Conv2d(head, embedding, 1, bias=False)
        self.features = nn.BatchNorm1d(embedding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.expand(self.blocks(self.stem(x)))
        x = self.project(self.gdconv(x)).flatten(1)
        return self.features(x)


def mobilefacenet(preset: str = "mobilefacenet", embedding: int = 512) -> MobileFaceNet:
    width, stages = PRESETS[preset]
    return MobileFaceNet(width, stages, embedding)
