"""MobileFaceNet at a lower working resolution: same weights but the final pooling, which is resampled."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fiqa.models import backbone
from fiqa.models.mobilefacenet import final_map, resample_gdconv


def test_final_map_follows_four_stride_two_stages() -> None:
    assert final_map(112) == 7 and final_map(64) == 4 and final_map(56) == 4 and final_map(80) == 5
    model = backbone("mobilefacenet_r64")
    trunk = model.expand(model.blocks(model.stem(torch.zeros(1, 3, 64, 64))))
    assert trunk.shape[-2:] == (4, 4) == model.gdconv[0].weight.shape[-2:]


def test_r64_differs_from_the_paper_network_only_in_its_pooling_kernel() -> None:
    paper, low = backbone("mobilefacenet").state_dict(), backbone("mobilefacenet_r64").state_dict()
    assert paper.keys() == low.keys()
    differing = [key for key in paper if paper[key].shape != low[key].shape]
    assert differing == ["gdconv.0.weight"]


def test_resampled_pooling_keeps_each_channels_total_weight_and_layout() -> None:
    weight = torch.rand(6, 1, 7, 7)
    weight[:, :, :, :3] *= 4  # heavier left side
    small = resample_gdconv(weight, 4)
    assert small.shape == (6, 1, 4, 4)
    assert torch.allclose(small.sum(dim=(1, 2, 3)), weight.sum(dim=(1, 2, 3)), rtol=1e-5)
    # a feature map constant per channel pools to the same value at either size
    level = torch.randn(1, 6, 1, 1)
    big_out = F.conv2d(level.expand(1, 6, 7, 7), weight, groups=6)
    small_out = F.conv2d(level.expand(1, 6, 4, 4), small, groups=6)
    assert torch.allclose(big_out, small_out, rtol=1e-4, atol=1e-5)
    assert bool(small[..., :2].sum() > small[..., 2:].sum())  # the heavy side stays where it was


def test_r64_reads_112_pixel_faces_as_their_antialiased_64_pixel_resampling() -> None:
    model = backbone("mobilefacenet_r64").eval()
    faces = torch.randn(2, 3, 112, 112)
    resampled = F.interpolate(faces, size=(64, 64), mode="bilinear", antialias=True)
    assert torch.allclose(model.resample @ faces @ model.resample.T, resampled, atol=1e-5)
    assert torch.allclose(model.resample.sum(dim=1), torch.ones(64))  # each output pixel is a weighted mean
    with torch.no_grad():
        direct = model.features(
            model.project(model.gdconv(model.expand(model.blocks(model.stem(resampled))))).flatten(1)
        )
        assert torch.allclose(model(faces), direct, atol=1e-5)
