"""MobileFaceNet (Chen et al. 2018): inverted residual bottlenecks, global depthwise conv, linear 512-D output.

Presets scale width and depth so a CPU can train it: ``mobilefacenet`` is the paper's network (with a 512-D
embedding as in the LRFR seed); ``mobilefacenet_s`` halves the width and shortens the stages; ``mobilefacenet_xs``
(quarter width, one block per stage but two at 14x14) is what a shared 2-core CPU trains in ~20 minutes.

``mobilefacenet_r64`` is the paper's network reading its 112x112 input resampled to 64x64 inside the graph
(antialiased bilinear, written as two matrix products: TensorRT's Resize has no antialiasing): a third of the
multiply-adds, for a quality regressor fine-tuned from a 112-pixel one
(``resample_gdconv`` carries the final pooling over). The served interface stays 112x112.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# Stages: (expansion t, output channels c, repeats n, stride s) of the paper's Table 1.
PAPER_STAGES = ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1))
CROP = 112
# preset: (width, stages, resolution the network works at)
PRESETS: dict[str, tuple[float, tuple[tuple[int, int, int, int], ...], int]] = {
    "mobilefacenet": (1.0, PAPER_STAGES, CROP),
    "mobilefacenet_r64": (1.0, PAPER_STAGES, 64),
    "mobilefacenet_s": (0.5, ((2, 64, 2, 2), (4, 128, 1, 2), (2, 128, 2, 1), (4, 128, 1, 2), (2, 128, 1, 1)), CROP),
    "mobilefacenet_xs": (
        0.25,
        ((2, 64, 1, 2), (4, 128, 1, 2), (2, 128, 2, 1), (4, 128, 1, 2), (2, 128, 1, 1)),
        CROP,
    ),
}


def resampling_matrix(size_out: int, size_in: int) -> torch.Tensor:
    """(size_out, size_in): antialiased bilinear resampling along one axis as a matrix (row i = the weights of
    output pixel i), i.e. ``F.interpolate(..., antialias=True)`` applied to the identity."""
    identity = torch.eye(size_in)[None, None]
    return F.interpolate(identity, size=(size_out, size_in), mode="bilinear", antialias=True)[0, 0]


def final_map(resolution: int) -> int:
    """Side of the last feature map: four stride-2 stages, each ceil(n / 2) (3x3, padding 1)."""
    return math.ceil(resolution / 16)


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
    """(N, 3, 112, 112) normalised face -> (N, embedding) un-normalised embedding (resampled to ``resolution``
    first when that is smaller)."""

    def __init__(self, width: float = 1.0, stages=PAPER_STAGES, embedding: int = 512, resolution: int = CROP):
        super().__init__()
        # not in the state_dict: a function of the preset, not a weight
        matrix = resampling_matrix(resolution, CROP) if resolution != CROP else None
        self.register_buffer("resample", matrix, persistent=False)

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
        side = final_map(resolution)
        self.gdconv = conv_bn(head, head, side, groups=head, act=False, pad=False)  # global depthwise conv
        self.project = nn.Conv2d(head, embedding, 1, bias=False)
        self.features = nn.BatchNorm1d(embedding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.resample is not None:
            x = self.resample @ x @ self.resample.T
        x = self.expand(self.blocks(self.stem(x)))
        x = self.project(self.gdconv(x)).flatten(1)
        return self.features(x)


def mobilefacenet(preset: str = "mobilefacenet", embedding: int = 512) -> MobileFaceNet:
    width, stages, resolution = PRESETS[preset]
    return MobileFaceNet(width, stages, embedding, resolution)


def area_weights(size_out: int, size_in: int) -> torch.Tensor:
    """(size_out, size_in): the share of input cell j that falls in output cell i when ``size_out`` equal cells tile
    the same extent (each column sums to 1)."""
    edges = torch.linspace(0, size_in, size_out + 1, dtype=torch.float64)
    cells = torch.arange(size_in, dtype=torch.float64)[None]
    overlap = torch.minimum(edges[1:, None], cells + 1) - torch.maximum(edges[:-1, None], cells)
    return overlap.clamp(min=0)


def resample_gdconv(weight: torch.Tensor, side: int) -> torch.Tensor:
    """A global depthwise conv's (C, 1, k, k) spatial weights for a ``side`` x ``side`` final map: each new cell
    takes the weight of the face region it covers (exact area integration), so each channel pools the same regions
    with the same total weight."""
    rows = area_weights(side, weight.shape[-1])
    return (rows @ weight.double() @ rows.T).to(weight.dtype)
