"""Multi-resolution augmentation: sizes kept, real resolution loss, and the 7:14:20 = 1:1:2 ratio."""

from __future__ import annotations

import torch

from fiqa.data.augment import RESOLUTIONS, degrade, multi_resolution, sample_resolutions


def test_sizes_and_ratio() -> None:
    sizes = sample_resolutions(40_000, torch.Generator().manual_seed(0))
    share = {size: float((sizes == size).float().mean()) for size in RESOLUTIONS}
    assert set(share) == {7, 14, 20}
    assert abs(share[7] - 0.25) < 0.01 and abs(share[14] - 0.25) < 0.01 and abs(share[20] - 0.5) < 0.01


def test_degrade_keeps_shape_and_removes_detail() -> None:
    torch.manual_seed(0)
    batch = torch.rand(2, 3, 112, 112)
    low7, low20 = degrade(batch, 7), degrade(batch, 20)
    assert low7.shape == batch.shape
    # white noise has all its energy in fine detail: the coarser the resolution, the less survives
    assert float(low7.std()) < float(low20.std()) < float(batch.std())


def test_multi_resolution_applies_the_drawn_size_per_row() -> None:
    batch = torch.rand(16, 3, 112, 112)
    out, sizes = multi_resolution(batch, torch.Generator().manual_seed(1))
    assert out.shape == batch.shape and sizes.shape == (16,)
    for row, size in enumerate(sizes.tolist()):
        assert torch.allclose(out[row], degrade(batch[row : row + 1], size)[0], atol=1e-5)
