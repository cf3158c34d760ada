"""The U-Net keeps the image shape at every side its levels divide, and listens to the step."""

from __future__ import annotations

import torch

from fiqa.diffusion.unet import UNet, timestep_embedding


def test_output_has_the_input_shape() -> None:
    model = UNet((8, 16, 32)).eval()
    for side in (64, 32):
        x = torch.randn(2, 3, side, side)
        assert model(x, torch.tensor([1, 100])).shape == (2, 3, side, side)


def test_the_step_changes_the_prediction() -> None:
    torch.manual_seed(0)
    model = UNet((8, 16, 32)).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(model(x, torch.tensor([1])), model(x, torch.tensor([90])))


def test_timestep_embedding_is_distinct_per_step() -> None:
    embedded = timestep_embedding(torch.arange(1, 101), 32)
    assert embedded.shape == (100, 32)
    assert torch.cdist(embedded, embedded).add(torch.eye(100)).min() > 1e-3
