"""fiqa.evaluate.mapping: the CelebA-validation mapping rule (degraded 5th, photos' 99th percentile) and the card
entries written from its report, which the served mapping then follows."""

from __future__ import annotations

import numpy as np

from fiqa.evaluate.mapping import card_mapping, fit
from service.registry import ScoreMapping


def test_fit_takes_the_degraded_5th_and_the_photos_99th_percentile() -> None:
    photos = np.linspace(0.5, 1.0, 101)  # 99th percentile 0.995
    degraded = np.linspace(0.0, 0.4, 101)  # 5th percentile 0.02
    assert fit(photos, degraded) == (0.02, 0.995)


def test_the_card_mapping_scores_the_fitted_ends_0_and_100() -> None:
    report = {"raw_low": 0.2, "raw_high": 0.9, "val_photos": 10, "val_degraded": 5}
    entries = card_mapping(report)
    assert "10 photos, 5 degraded copies" in entries["fitted_on"]
    mapping = ScoreMapping.model_validate(entries)
    np.testing.assert_allclose(mapping.to_score(np.array([0.2, 0.55, 0.9, 1.5])), [0.0, 50.0, 100.0, 100.0])
