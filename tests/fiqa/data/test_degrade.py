"""MR-FIQA degradation sampling: level probabilities, value ranges, and the effect on a crop."""

from __future__ import annotations

import numpy as np

from fiqa.data.degrade import BLUR_LEVELS, DOWN_LEVELS, LEVEL_PROBABILITIES, Degradation, apply, sample


def test_levels_follow_the_seed_distribution_and_ranges() -> None:
    rng = np.random.default_rng(0)
    drawn = [sample(rng) for _ in range(20_000)]
    for attr_level, attr_value, levels in (("blur_level", "sigma", BLUR_LEVELS), ("down_level", "factor", DOWN_LEVELS)):
        counts = np.bincount([getattr(d, attr_level) for d in drawn], minlength=5) / len(drawn)
        assert np.allclose(counts, LEVEL_PROBABILITIES, atol=0.01)
        for d in drawn:
            low, high = levels[getattr(d, attr_level)]
            value = getattr(d, attr_value)
            assert (value == low == high) or (low < value <= high)


def test_ranks_and_apply() -> None:
    assert Degradation(0, 0.0, 0, 1.0).ranks == (5, 5)
    assert Degradation(4, 6.0, 2, 3.0).ranks == (1, 3)
    crop = np.random.default_rng(1).integers(0, 256, (112, 112, 3), dtype=np.uint8)
    assert np.array_equal(apply(crop, Degradation(0, 0.0, 0, 1.0)), crop)
    blurred = apply(crop, Degradation(3, 3.0, 3, 4.0))
    assert blurred.shape == crop.shape and blurred.dtype == np.uint8
    assert blurred.astype(float).std() < crop.astype(float).std() / 2
