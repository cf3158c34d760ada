"""MR-FIQA label formula: s_d minimal rank, leave-one-out reference similarity, dataset-level min-max."""

from __future__ import annotations

import numpy as np
import pytest

from fiqa.labels.mrfiqa import quality, reference_similarity, spatial_score


def test_spatial_score_is_the_minimal_rank_on_unit_scale() -> None:
    assert np.allclose(spatial_score(np.array([5, 5, 3, 1]), np.array([5, 2, 4, 5])), [1.0, 0.25, 0.5, 0.0])


def test_quality_is_minmax_of_fr_plus_half_sd() -> None:
    f_r, s_d = np.array([0.9, 0.5, 0.7]), np.array([1.0, 0.0, 0.5])
    raw = f_r + 0.5 * s_d  # 1.4, 0.5, 0.95
    assert np.allclose(quality(f_r, s_d), (raw - 0.5) / 0.9)
    assert quality(f_r, s_d).min() == 0.0 and quality(f_r, s_d).max() == 1.0
    # v_l sits in the denominator: a larger v_l raises that sample's score
    assert quality(f_r, s_d, v_l=np.array([0.0, 0.0, 0.3]))[2] > quality(f_r, s_d)[2]


def test_reference_similarity_leaves_the_source_photo_out() -> None:
    plain = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    identity = np.array([4, 4, 5])
    samples = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    source = np.array([0, 0, 2])  # two samples (the photo and a degraded copy) of photo 0, one of photo 2
    f_r = reference_similarity(samples, plain, identity, source)
    assert f_r[0] == pytest.approx(0.6)  # photo 0 against photo 1 only
    assert f_r[1] == pytest.approx(0.8 * 0.6 + 0.6 * 0.8)
    assert f_r[2] == pytest.approx(1.0)  # a singleton identity is its own reference
