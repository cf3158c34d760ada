"""CosFace / ArcFace margin softmax and the CR-FIQA certainty ratio."""

from __future__ import annotations

import math

import pytest
import torch

from fiqa.losses import MarginSoftmax, certainty_ratio


def test_cosface_logits_subtract_margin_on_true_class_only() -> None:
    head = MarginSoftmax(4, 3, s=48.0, m=0.4)
    cosines = torch.tensor([[0.9, 0.2, -0.1]])
    logits = head.logits(cosines, torch.tensor([0]))
    assert torch.allclose(logits, 48.0 * torch.tensor([[0.5, 0.2, -0.1]]))


def test_arcface_logits_add_angle() -> None:
    head = MarginSoftmax(4, 2, s=64.0, m=0.5, kind="arcface")
    logits = head.logits(torch.tensor([[0.0, 0.3]]), torch.tensor([0]))
    assert float(logits[0, 0]) == pytest.approx(64.0 * math.cos(math.pi / 2 + 0.5), rel=1e-5)
    assert float(logits[0, 1]) == pytest.approx(64.0 * 0.3, rel=1e-6)


def test_loss_decreases_when_embedding_moves_to_its_centre() -> None:
    head = MarginSoftmax(4, 2)
    with torch.no_grad():
        head.weight.copy_(torch.eye(2, 4))
    label = torch.tensor([0])
    far, _ = head(torch.tensor([[0.2, 1.0, 0.0, 0.0]]), label)
    near, _ = head(torch.tensor([[1.0, 0.2, 0.0, 0.0]]), label)
    assert float(near) < float(far)


def test_certainty_ratio_formula() -> None:
    cosines = torch.tensor([[0.8, 0.3, 0.5], [0.1, 0.6, -0.2]])
    cr = certainty_ratio(cosines, torch.tensor([0, 0]), eps=0.0)
    assert torch.allclose(cr, torch.tensor([0.8 / 1.5, 0.1 / 1.6]))
