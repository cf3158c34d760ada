"""Threshold calibration on synthetic data, and writing the threshold into a model card."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from fiqa.evaluate.calibrate import (
    Target,
    calibrate_fnmr,
    calibrate_reject_rate,
    fnmr_after,
    fnmr_threshold,
    reject_rate_threshold,
    write_card_threshold,
)
from service.registry import Registry

REPO = Path(__file__).resolve().parents[3]


def test_reject_rate_threshold_rejects_at_most_the_target():
    scores = np.arange(100, dtype=float)  # 0..99
    assert reject_rate_threshold(scores, 0.05) == 5.0  # rejects 0..4
    assert reject_rate_threshold(scores, 0.0) == 0.0
    tied = np.r_[np.zeros(10), np.arange(1, 91)]
    assert reject_rate_threshold(tied, 0.05) == 0.0  # cannot reject part of the ten tied zeros


def test_reject_rate_calibration_on_uniform_scores():
    scores = np.random.default_rng(0).uniform(0, 100, 20000)
    result = calibrate_reject_rate(scores, 0.05, replicates=200)
    assert np.mean(scores < result.value) <= 0.05
    assert result.low <= result.value <= result.high
    assert result.low < 5.0 < result.high and result.high - result.low < 1.0


def _pairs(seed: int = 1, samples: int = 2000):
    """Faces with quality q; a mated comparison is weak when either face has q < 30."""
    rng = np.random.default_rng(seed)
    quality = rng.uniform(0, 100, samples)
    first, second = rng.integers(0, samples, (2, 20000))
    mated = np.arange(first.size) < 4000
    low = np.minimum(quality[first], quality[second]) < 30
    similarity = np.where(
        mated,
        np.where(low, rng.normal(0.2, 0.2, first.size), rng.normal(0.8, 0.05, first.size)),
        rng.normal(0.0, 0.1, first.size),
    )
    return quality, first, second, similarity, mated


def test_fnmr_threshold_is_the_lowest_that_reaches_the_target():
    quality, first, second, similarity, mated = _pairs()
    value = fnmr_threshold(quality, first, second, similarity, mated, 0.01, 1e-3)
    assert 25 < value <= 31
    fnmr, _ = fnmr_after(quality, first, second, similarity, mated, value, 1e-3)
    assert fnmr <= 0.01
    below = np.max(
        np.minimum(quality[first], quality[second])[mated & (np.minimum(quality[first], quality[second]) < value)]
    )
    assert fnmr_after(quality, first, second, similarity, mated, below, 1e-3)[0] > 0.01
    assert np.isnan(fnmr_threshold(quality, first, second, similarity, mated, -1.0, 1e-3))


def test_fnmr_calibration_interval():
    quality, first, second, similarity, mated = _pairs()
    result = calibrate_fnmr(quality, first, second, similarity, mated, Target("fnmr", 0.01, 1e-3), replicates=50)
    assert result.low <= result.value <= result.high
    assert "FNMR" in result.achieved


def test_target_parsing():
    assert Target.parse("reject-rate=0.05", None) == Target("reject-rate", 0.05)
    assert Target.parse("fnmr=0.02", 1e-3).fmr == 1e-3
    with pytest.raises(ValueError):
        Target.parse("fnmr=0.02", None)
    with pytest.raises(ValueError):
        Target.parse("accuracy=1", None)


def without_threshold(text: str) -> str:
    """A card's text less its ``threshold:`` block (the block and its indented continuation lines)."""
    return re.sub(r"^threshold:.*\n(?:[ \t]+.*\n)*", "", text, flags=re.MULTILINE)


def test_threshold_written_into_a_card_is_what_the_registry_reads(tmp_path):
    folder = tmp_path / "diffiqa"
    folder.mkdir()
    card = folder / "card.yaml"
    shutil.copy(REPO / "models" / "diffiqa" / "card.yaml", card)
    before = card.read_text()
    write_card_threshold(card, 37.456, "calibrated: reject-rate=0.05 on lfw: CI [36, 39]")
    loaded = Registry(tmp_path)["diffiqa"]
    assert loaded.threshold is not None
    assert loaded.threshold.value == 37.46 and loaded.threshold.source.startswith("calibrated: reject-rate")
    after = card.read_text()
    assert without_threshold(after) == without_threshold(before)  # every other line kept, in order

    card.write_text(without_threshold(after))
    write_card_threshold(card, 50.0, "appended")
    assert Registry(tmp_path)["diffiqa"].threshold.value == 50.0
