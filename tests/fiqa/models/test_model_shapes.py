"""Backbones, regressor and ViT-FIQA: output shapes, presets and parameter counts."""

from __future__ import annotations

import pytest
import torch

from fiqa.models import backbone
from fiqa.models.regressor import QualityRegressor
from fiqa.models.vit import PRESETS, QualityOnly, vit_fiqa


@pytest.mark.parametrize(
    "preset", ["mobilefacenet_xs", "mobilefacenet_s", "mobilefacenet", "mobilefacenet_r64", "iresnet18"]
)
def test_backbones_map_112_faces_to_512(preset: str) -> None:
    model = backbone(preset).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 112, 112)).shape == (2, 512)


def test_iresnet50_layout_and_size() -> None:
    model = backbone("iresnet50")
    assert [len(getattr(model, f"layer{i}")) for i in (1, 2, 3, 4)] == [3, 4, 14, 3]
    assert 40e6 < sum(p.numel() for p in model.parameters()) < 50e6  # the published iResNet-50 has ~43.6 M


def test_mobilefacenet_paper_preset_is_about_a_million_parameters() -> None:
    assert 0.9e6 < sum(p.numel() for p in backbone("mobilefacenet").parameters()) < 1.5e6


def test_regressor_outputs_one_value_per_face() -> None:
    model = QualityRegressor(backbone("mobilefacenet_xs")).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 3, 112, 112)).shape == (3, 1)


def test_vit_fiqa_tiny_outputs_and_quality_only() -> None:
    model = vit_fiqa("vit_tiny").eval()
    faces = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        embedding, quality = model(faces)
        assert embedding.shape == (2, 512) and quality.shape == (2, 1)
        assert torch.allclose(QualityOnly(model)(faces), quality, atol=1e-6)


def test_vit_s_preset_is_the_papers() -> None:
    config = PRESETS["vit_s"]
    assert (config.patch, config.dim, config.depth, config.heads) == (9, 512, 12, 8)
    model = vit_fiqa("vit_s")
    assert model.num_patches == 144  # 112 px, patch 9, stride 9 -> 12 x 12
    assert model.quality_token.shape == (1, 1, 512)
