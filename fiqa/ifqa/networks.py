"""IFQA networks: a plain encoder-decoder restorer (G) and a U-Net per-pixel quality discriminator (D).

Both are sized for CPU training at 64x64 (width 16: G 0.42 M, D 0.49 M parameters). D has no normalisation
layers at all (no BatchNorm, no InstanceNorm): at inference it is convolutions, LeakyReLU, max-pooling,
bilinear resizing and a sigmoid, which every ONNX runtime and TensorRT handle without plugins, and its output
cannot depend on batch statistics (a face scores the same whatever else is in its batch).
"""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.nn import functional as F


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.2, inplace=True))


class Generator(nn.Module):
    """Plain encoder-decoder (no skip connections): LQ face in [-1, 1] -> restored face in [-1, 1].

    Without skips it cannot copy input detail through, so its restorations are smooth and carry the
    typical restoration artefacts the discriminator has to learn to call 'fake', as in the seed.
    """

    def __init__(self, width: int = 16):
        super().__init__()
        w = width
        layers: list[nn.Module] = [nn.Conv2d(3, w, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        channels = [w, 2 * w, 4 * w, 8 * w]
        for cin, cout in itertools.pairwise(channels):  # 64 -> 32 -> 16 -> 8
            layers += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(8 * w, 8 * w, 3, padding=1), nn.BatchNorm2d(8 * w), nn.LeakyReLU(0.2, True)]
        for cin, cout in zip(channels[:0:-1], channels[-2::-1], strict=True):  # 8 -> 16 -> 32 -> 64
            layers += [
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(cin, cout, 3, padding=1),
                nn.BatchNorm2d(cout),
                nn.LeakyReLU(0.2, True),
            ]
        layers += [nn.Conv2d(w, 3, 3, padding=1), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class UNetDiscriminator(nn.Module):
    """Per-pixel real/fake scores: a light VGG-like encoder (two 3x3 convs per stage, max-pool between,
    widths w, 2w, 4w, 8w) and a mirrored decoder with skip connections; sigmoid output, one channel.

    Input: RGB in [-1, 1], (N, 3, S, S) with S divisible by 8. Output: (N, 1, S, S) in [0, 1].
    """

    def __init__(self, width: int = 16):
        super().__init__()
        w = width
        self.enc = nn.ModuleList(
            [
                nn.Sequential(_conv(3, w), _conv(w, w)),
                nn.Sequential(_conv(w, 2 * w), _conv(2 * w, 2 * w)),
                nn.Sequential(_conv(2 * w, 4 * w), _conv(4 * w, 4 * w)),
                nn.Sequential(_conv(4 * w, 8 * w), _conv(8 * w, 8 * w)),
            ]
        )
        self.dec = nn.ModuleList(
            [
                nn.Sequential(_conv(8 * w + 4 * w, 4 * w), _conv(4 * w, 4 * w)),
                nn.Sequential(_conv(4 * w + 2 * w, 2 * w), _conv(2 * w, 2 * w)),
                nn.Sequential(_conv(2 * w + w, w), _conv(w, w)),
            ]
        )
        self.head = nn.Conv2d(w, 1, 1)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features of every encoder stage (also used as the generator's perceptual features)."""
        features = []
        for index, stage in enumerate(self.enc):
            x = stage(x if index == 0 else F.max_pool2d(x, 2))
            features.append(x)
        return features

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        features = self.encode(x)
        y = features[-1]
        for stage, skip in zip(self.dec, features[-2::-1], strict=True):
            y = F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=False)
            y = stage(torch.cat([y, skip], dim=1))
        return self.head(y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))
