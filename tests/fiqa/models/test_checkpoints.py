"""Official-layout state_dicts (written by our own modules) load back into our modules with equal outputs."""

from __future__ import annotations

import pytest
import torch

from fiqa.checkpoints import LAYOUTS, from_official, map_keys, to_official
from fiqa.models.iresnet import IResNet, IResNetQuality
from fiqa.models.regressor import QualityRegressor
from fiqa.models.vit import vit_fiqa

FACES = torch.randn(2, 3, 112, 112, generator=torch.Generator().manual_seed(0))


def _randomise(module: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial BN statistics, so a mis-mapped buffer changes the output."""
    for sub in module.modules():
        if isinstance(sub, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            sub.running_mean.uniform_(-0.1, 0.1)
            sub.running_var.uniform_(0.5, 1.5)
    return module.eval()


def _same(a, b) -> None:
    with torch.no_grad():
        out_a, out_b = a(FACES), b(FACES)
    pairs = zip(
        out_a if isinstance(out_a, tuple) else (out_a,), out_b if isinstance(out_b, tuple) else (out_b,), strict=True
    )
    for x, y in pairs:
        assert torch.equal(x, y)


@pytest.mark.parametrize("wrap", ["", "module."])
def test_crfiqa_iresnet_with_qs_head(wrap: str) -> None:
    ours = _randomise(IResNetQuality((1, 2, 1, 1), width=0.125))
    official = to_official("crfiqa", ours, wrap=wrap)
    assert "qs.weight" in {k.removeprefix(wrap) for k in official} and (wrap + "layer2.1.bn3.running_var") in official
    loaded = from_official("crfiqa", official)
    assert isinstance(loaded, IResNetQuality) and len(loaded.layer2) == 2
    _same(ours, loaded)


def test_magface_nested_and_prefixed() -> None:
    ours = _randomise(IResNet((1, 1, 1, 1), width=0.125))
    official = to_official("magface", ours)
    assert set(official) == {"state_dict"}
    assert all(key.startswith("features.module.") for key in official["state_dict"])
    assert "features.module.features.running_mean" in official["state_dict"]  # iResNet's own BN1d 'features'
    _same(ours, from_official("magface", official))


def test_vitfiqa_drops_mask_token_and_keeps_quality_token() -> None:
    ours = vit_fiqa("vit_tiny").eval()
    with torch.no_grad():
        ours.quality_token.normal_()
        ours.qs.bias.fill_(0.3)
    official = to_official("vitfiqa", ours)
    assert "mask_token" in official and "blocks.3.attn.qkv.weight" in official
    loaded = from_official("vitfiqa", official, preset="vit_tiny")
    _same(ours, loaded)


def test_diffiqa_r_regressor() -> None:
    ours = _randomise(QualityRegressor(IResNet((1, 1, 1, 1), width=0.125), hidden=32))
    loaded = from_official("diffiqa_r", to_official("diffiqa_r", ours, wrap="module."))
    _same(ours, loaded)


def test_strict_loading_rejects_foreign_keys() -> None:
    state = to_official("crfiqa", IResNetQuality((1, 1, 1, 1), width=0.125))
    state["extra_head.weight"] = torch.zeros(1)
    with pytest.raises(RuntimeError, match="extra_head"):
        from_official("crfiqa", state)
    assert "extra_head.weight" in map_keys(state, LAYOUTS["crfiqa"])
