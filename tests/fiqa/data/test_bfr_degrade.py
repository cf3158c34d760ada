"""fiqa.data.bfr_degrade (IFQA's): the seed's I_LQ = JPEG_q((I_HQ ⊗ k)↓r + n_σ) with its parameter ranges."""

from __future__ import annotations

import cv2
import numpy as np

from fiqa.data import bfr_degrade as degrade


def _textured(size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(1)
    base = cv2.resize(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), (size, size), interpolation=cv2.INTER_CUBIC)
    checker = ((np.indices((size, size)).sum(0) // 2) % 2 * 60).astype(np.uint8)[..., None]
    return (base // 2 + checker).astype(np.uint8)


def test_parameters_stay_in_the_seed_ranges():
    rng = np.random.default_rng(0)
    draws = [degrade.sample(rng) for _ in range(400)]
    assert all(0.4 <= d.scale < 0.9 for d in draws)
    assert all(50 <= d.noise_sigma < 250 for d in draws)
    assert all(5 <= d.quality < 50 for d in draws)
    assert all(abs(d.kernel.sum() - 1) < 1e-5 and (d.kernel >= 0).all() for d in draws)
    shapes = {d.kernel.shape for d in draws}
    assert len(shapes) > 3  # Gaussian and motion kernels of several sizes


def test_motion_kernel_is_a_line():
    horizontal = degrade.motion_kernel(7, 0.0)
    assert horizontal.shape == (7, 7)
    assert np.count_nonzero(horizontal[3]) == 7 and np.count_nonzero(horizontal) == 7
    vertical = degrade.motion_kernel(5, 90.0)
    assert np.count_nonzero(vertical[:, 2]) == 5 and np.count_nonzero(vertical) == 5


def test_degraded_images_keep_size_and_lose_detail():
    hq = _textured()
    rng = np.random.default_rng(0)
    sharpness = cv2.Laplacian(cv2.cvtColor(hq, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()
    for _ in range(10):
        lq = degrade.degrade(hq, rng)
        assert lq.shape == hq.shape and lq.dtype == np.uint8
        assert np.abs(lq.astype(int) - hq).mean() > 3
        # blur + down-scaling remove more high-frequency energy than the noise adds back at this level
        low = degrade.apply(hq, degrade.Degradation(degrade.gaussian_kernel(2.0), 0.5, 50.0, 40), rng)
        assert cv2.Laplacian(cv2.cvtColor(low, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() < sharpness


def test_same_seed_same_degradation():
    hq = _textured()
    a = degrade.degrade(hq, np.random.default_rng(7))
    b = degrade.degrade(hq, np.random.default_rng(7))
    c = degrade.degrade(hq, np.random.default_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
