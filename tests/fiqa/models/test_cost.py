"""Multiply-adds per face: the paper's MobileFaceNet count, and what the lower-resolution preset saves."""

from __future__ import annotations

import pytest
from torch import nn

from fiqa.models import backbone
from fiqa.models.cost import multiply_adds
from fiqa.models.regressor import QualityRegressor


def test_counts_convolutions_and_linear_layers_by_hand() -> None:
    # conv 3->8, 3x3, stride 2, padding 1 on 112: 56*56*8 outputs, 27 MACs each; depthwise 3x3: 9 each; fc 8->2
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, 2, 1),
        nn.Conv2d(8, 8, 3, 1, 1, groups=8),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 2),
    )
    assert multiply_adds(model) == 56 * 56 * 8 * 27 + 56 * 56 * 8 * 9 + 8 * 2


def test_paper_mobilefacenet_is_its_published_221_million() -> None:
    assert multiply_adds(backbone("mobilefacenet")) == pytest.approx(221e6, rel=0.01)


def test_r64_regressor_costs_under_a_twentieth_of_ten_recognition_passes() -> None:
    """The analytic diffiqa scorer runs fr_feature (the paper network) ten times per face."""
    diffiqa = 10 * multiply_adds(backbone("mobilefacenet"))
    regressor = multiply_adds(QualityRegressor(backbone("mobilefacenet_r64")))
    assert regressor < diffiqa / 20
    assert regressor < 0.34 * multiply_adds(backbone("mobilefacenet"))  # (64 / 112)^2 of the convolutions
