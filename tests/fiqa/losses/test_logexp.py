"""LogExp feature loss: values on hand-computed cases and its position between L1 and L2."""

from __future__ import annotations

import math

import pytest
import torch

from fiqa.losses import logexp


def test_zero_when_equal() -> None:
    x = torch.randn(3, 8)
    assert float(logexp(x, x.clone())) == pytest.approx(0.0, abs=1e-12)


def test_hand_case_p1() -> None:
    # D = 2, |d| = (1, 2): log(1 + (e - 1) + (e^2 - 1)) / 2
    x, y = torch.tensor([[1.0, 2.0]]), torch.zeros(1, 2)
    expected = math.log(1 + (math.e - 1) + (math.e**2 - 1)) / 2
    assert float(logexp(x, y, p=1.0)) == pytest.approx(expected, rel=1e-6)


def test_hand_case_p2_and_batch_mean() -> None:
    # rows: |d| = (1, 0, 0) and (0, 0, 0); p = 2: mean of log(1 + e - 1) / (2 * 3) and 0
    x = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5]])
    y = torch.tensor([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])
    assert float(logexp(x, y, p=2.0)) == pytest.approx((1.0 / 6) / 2, rel=1e-6)


def test_symmetric_and_gradient_larger_on_larger_error() -> None:
    x = torch.tensor([[0.3, 0.05]], requires_grad=True)
    y = torch.zeros(1, 2)
    loss = logexp(x, y)
    loss.backward()
    assert float(loss.detach()) == pytest.approx(float(logexp(y, x.detach())))
    grad = x.grad.abs()[0]
    assert grad[0] > grad[1] > 0  # unlike L1, the larger error gets the larger gradient
