"""EDC, pAUC/AUC and bootstrap on cases small enough to compute by hand."""

from __future__ import annotations

import numpy as np
import pytest

from fiqa.evaluate.analysis import oracle_curve
from fiqa.evaluate.edc import (
    bootstrap_draws,
    edc,
    edc_fixed,
    edc_recomputed,
    identity_bootstrap_draws,
    pair_quality,
    paired_differences,
    percentile_intervals,
    theoretical_best,
    threshold_at_fmr,
    weighted_edc_fixed,
)

# Four mated and four non-mated comparisons. At FMR 0.25 one non-mated score may match, so the threshold is the
# second largest non-mated score, 0.4, and the mated scores 0.1 and 0.2 are false non-matches (FNMR 0.5).
GENUINE = np.array([0.1, 0.9, 0.2, 0.8])
GENUINE_Q = np.array([1.0, 4.0, 2.0, 3.0])
IMPOSTOR = np.array([0.5, 0.3, 0.4, 0.0])
IMPOSTOR_Q = np.array([1.5, 3.5, 2.5, 0.5])
SCORES = np.concatenate((GENUINE, IMPOSTOR))
MATED = np.array([True] * 4 + [False] * 4)
QUALITY = np.concatenate((GENUINE_Q, IMPOSTOR_Q))


def test_threshold_allows_floor_fmr_n_false_matches():
    found = threshold_at_fmr(IMPOSTOR, 0.25)
    assert found.value == 0.4 and found.fmr_actual == 0.25 and found.resolved
    strict = threshold_at_fmr(IMPOSTOR, 0.2)  # 0.2 * 4 < 1: no false match allowed
    assert strict.value == 0.5 and strict.fmr_actual == 0.0 and not strict.resolved


def test_threshold_below_resolution_is_the_largest_non_mated_score():
    scores = np.random.default_rng(1).normal(size=3000)
    found = threshold_at_fmr(scores, 1e-4)
    assert found.value == scores.max() and found.fmr_actual == 0.0 and not found.resolved
    assert threshold_at_fmr(scores, 1e-3).fmr_actual == pytest.approx(3 / 3000)


def test_fixed_edc_by_hand():
    curve = edc_fixed(SCORES, MATED, QUALITY, fmr=0.25)
    assert curve.threshold == 0.4
    np.testing.assert_allclose(curve.discard, [0, 0.25, 0.5, 0.75])
    np.testing.assert_allclose(curve.fnmr, [0.5, 1 / 3, 0, 0])
    # Step areas: [0, 0.2] at 0.5; [0, 0.3] = 0.25 * 0.5 + 0.05 / 3; [0, 0.95] = 0.125 + 0.25 / 3.
    assert curve.normalised_area(0.2) == pytest.approx(1.0)
    assert curve.normalised_area(0.3) == pytest.approx((0.125 + 0.05 / 3) / (0.3 * 0.5))
    assert curve.normalised_area(0.95) == pytest.approx((0.125 + 0.25 / 3) / (0.95 * 0.5))


def test_discard_zero_and_near_one():
    curve = edc_fixed(SCORES, MATED, QUALITY, fmr=0.25)
    assert curve.at(0.0) == 0.5
    assert curve.at(0.2499) == 0.5  # not interpolated: holds until the next achievable discard
    assert curve.at(0.25) == pytest.approx(1 / 3)
    assert curve.at(0.999) == 0.0  # the last point (one comparison left) holds to the end
    assert curve.area(0.0) == 0.0


def test_ties_in_quality_are_discarded_together_in_any_input_order():
    tied = np.array([1.0, 4.0, 1.0, 3.0])
    quality = np.concatenate((tied, IMPOSTOR_Q))
    curve = edc_fixed(SCORES, MATED, quality, fmr=0.25)
    np.testing.assert_allclose(curve.discard, [0, 0.5, 0.75])
    np.testing.assert_allclose(curve.fnmr, [0.5, 0, 0])
    assert curve.normalised_area(0.3) == pytest.approx(1.0)  # the 0.5 step cannot be reached before 0.5
    order = np.random.default_rng(0).permutation(SCORES.size)
    shuffled = edc_fixed(SCORES[order], MATED[order], quality[order], fmr=0.25)
    np.testing.assert_allclose(shuffled.fnmr, curve.fnmr)


def test_constant_quality_cannot_help():
    curve = edc_fixed(SCORES, MATED, np.ones(8), fmr=0.25)
    np.testing.assert_allclose(curve.discard, [0])
    assert curve.normalised_area(0.3) == pytest.approx(1.0)
    assert curve.normalised_area(0.95) == pytest.approx(1.0)


def test_all_genuine_needs_a_given_threshold():
    with pytest.raises(ValueError, match="non-mated"):
        edc_fixed(GENUINE, np.ones(4, bool), GENUINE_Q, fmr=1e-3)
    curve = edc_fixed(GENUINE, np.ones(4, bool), GENUINE_Q, fmr=1e-3, threshold=0.4)
    np.testing.assert_allclose(curve.fnmr, [0.5, 1 / 3, 0, 0])
    with pytest.raises(ValueError, match="non-mated"):
        edc_recomputed(GENUINE, np.ones(4, bool), GENUINE_Q, fmr=1e-3)


def test_all_impostor_has_no_fnmr():
    for function in (edc_fixed, edc_recomputed):
        with pytest.raises(ValueError, match="no mated"):
            function(IMPOSTOR, np.zeros(4, bool), IMPOSTOR_Q, fmr=0.25)


def test_zero_start_fnmr_gives_undefined_normalised_area():
    curve = edc_fixed(SCORES, MATED, QUALITY, fmr=0.25, threshold=0.0)
    assert curve.fnmr[0] == 0.0 and np.isnan(curve.normalised_area(0.3))


def test_recomputed_edc_by_hand():
    # All eight pairs by quality: 0.5 nm0.0 | 1 m0.1 | 1.5 nm0.5 | 2 m0.2 | 2.5 nm0.4 | 3 m0.8 | 3.5 nm0.3 | 4 m0.9.
    # Remaining non-mated after each discard give thresholds 0.4, 0.5, 0.5, 0.4, 0.4, 0.3, 0.3 (FMR 0.25 lets
    # floor(0.25 n) of them match); the curve stops when no non-mated pair is left.
    curve = edc_recomputed(SCORES, MATED, QUALITY, fmr=0.25)
    np.testing.assert_allclose(curve.discard, np.arange(7) / 8)
    np.testing.assert_allclose(curve.fnmr, [0.5, 0.5, 1 / 3, 1 / 3, 0, 0, 0])


def test_conventions_agree_when_no_non_mated_pair_is_discarded_and_differ_otherwise():
    rng = np.random.default_rng(3)
    genuine, impostor = rng.normal(2.0, 1.0, 300), rng.normal(0.0, 1.0, 3000)
    quality_g = rng.random(300)
    scores = np.concatenate((genuine, impostor))
    mated = np.r_[np.ones(300, bool), np.zeros(3000, bool)]
    # Non-mated pairs all of the best quality: the recomputed threshold never changes before discard 300/3300.
    last = np.concatenate((quality_g, np.full(3000, 2.0)))
    fixed = edc_fixed(scores, mated, last, 1e-2)
    recomputed = edc_recomputed(scores, mated, last, 1e-2)
    np.testing.assert_allclose(recomputed.fnmr[:300], fixed.fnmr)
    np.testing.assert_allclose(recomputed.discard[:300], fixed.discard * 300 / 3300)
    # Non-mated pairs whose quality follows their score: discarding them lowers the recomputed threshold only.
    tied = np.concatenate((quality_g, -impostor))
    fixed2, recomputed2 = edc_fixed(scores, mated, tied, 1e-2), edc_recomputed(scores, mated, tied, 1e-2)
    assert fixed2.fnmr[0] == recomputed2.fnmr[0]
    assert recomputed2.at(0.3) < fixed2.at(0.3)


def test_perfect_oracle_gives_the_theoretical_best_curve():
    rng = np.random.default_rng(5)
    genuine, impostor = rng.normal(1.5, 1.0, 500), rng.normal(0.0, 1.0, 5000)
    scores, mated = np.concatenate((genuine, impostor)), np.r_[np.ones(500, bool), np.zeros(5000, bool)]
    oracle_quality = scores.copy()  # a mated comparison's own score ranks false non-matches first
    curve = edc_fixed(scores, mated, oracle_quality, 1e-2)
    best = theoretical_best(curve.fnmr[0], curve.discard)
    np.testing.assert_allclose(curve.fnmr, best, atol=1e-12)
    np.testing.assert_allclose(oracle_curve(scores, mated, curve.threshold, 1e-2).fnmr, best, atol=1e-12)
    random = edc_fixed(scores, mated, rng.random(scores.size), 1e-2)
    for upper in (0.2, 0.3, 0.95):
        assert curve.normalised_area(upper) < random.normalised_area(upper)
        assert curve.normalised_area(upper) <= 1.0


def test_pair_quality_is_the_worse_sample():
    np.testing.assert_array_equal(pair_quality(np.array([3.0, 1.0, 2.0]), np.array([0, 0]), np.array([1, 2])), [1, 2])


def _synthetic(count: int, seed: int):
    rng = np.random.default_rng(seed)
    quality = rng.random(count * 11)
    mated = np.r_[np.ones(count, bool), np.zeros(count * 10, bool)]
    scores = np.where(mated, rng.normal(1.0, 1.0, mated.size) + 2 * quality, rng.normal(0.0, 1.0, mated.size))
    return scores, mated, quality


def test_bootstrap_interval_contains_the_point_and_narrows_with_more_data():
    widths = []
    for count in (100, 2000):
        scores, mated, quality = _synthetic(count, 7)
        measures = {"q": quality, "random": np.random.default_rng(1).random(scores.size)}
        draws = bootstrap_draws(scores, mated, measures, 1e-2, (0.2, 0.3), replicates=200, seed=2)
        points = {name: edc(scores, mated, values, 1e-2, "fixed") for name, values in measures.items()}
        intervals = percentile_intervals(draws, points, (0.2, 0.3))
        for name in ("q", "random"):
            for upper in (0.2, 0.3):
                got = intervals[name][upper]
                assert got.low <= got.value <= got.high and got.replicates == 200
        widths.append(intervals["q"][0.3].high - intervals["q"][0.3].low)
    assert widths[1] < widths[0] / 2
    # With 2,000 mated pairs an informative quality is clearly better than random; with 100 it need not be.
    assert intervals["q"][0.3].high < intervals["random"][0.3].low


def test_paired_difference_finds_the_better_measure_on_shared_replicates():
    scores, mated, quality = _synthetic(2000, 7)
    measures = {"q": quality, "random": np.random.default_rng(1).random(scores.size), "q_copy": quality.copy()}
    draws = bootstrap_draws(scores, mated, measures, 1e-2, (0.2, 0.3), replicates=100, seed=2)
    points = {name: edc(scores, mated, values, 1e-2, "fixed") for name, values in measures.items()}
    diffs = paired_differences(draws, points, "random", (0.2, 0.3))
    assert set(diffs) == {"q", "q_copy"}
    better = diffs["q"][0.3]
    assert better.low <= better.value <= better.high < 0 and better.share_lower > 0.95 and better.replicates == 100
    # a measure against an identical one: zero difference in every replicate, never lower
    same = paired_differences(draws, points, "q", (0.3,))["q_copy"][0.3]
    assert same.value == same.low == same.high == 0.0 and same.share_lower == 0.0


def test_bootstrap_recomputed_contains_the_point():
    scores, mated, quality = _synthetic(200, 9)
    draws = bootstrap_draws(scores, mated, {"q": quality}, 1e-2, (0.3,), "recomputed", replicates=50)
    got = percentile_intervals(draws, {"q": edc(scores, mated, quality, 1e-2, "recomputed")}, (0.3,))
    assert got["q"][0.3].low <= got["q"][0.3].value <= got["q"][0.3].high


def _brute_force(scores, mated, quality, fmr, convention):
    """Both conventions straight from their definitions, one quality cut at a time."""
    pool = quality if convention == "recomputed" else quality[mated]
    fixed = threshold_at_fmr(scores[~mated], fmr).value
    discard, fnmr = [], []
    for cut in np.unique(pool):
        keep = quality >= cut
        genuine = scores[keep & mated]
        impostor = scores[keep & ~mated]
        if genuine.size == 0 or (convention == "recomputed" and impostor.size == 0):
            break
        threshold = fixed if convention == "fixed" else threshold_at_fmr(impostor, fmr).value
        discard.append(np.mean(pool < cut))
        fnmr.append(np.mean(genuine <= threshold))
    return np.asarray(discard), np.asarray(fnmr)


@pytest.mark.parametrize("convention", ["fixed", "recomputed"])
def test_fast_curves_match_the_definition_on_random_data_with_ties(convention):
    rng = np.random.default_rng(11)
    mated = rng.random(1500) < 0.2
    scores = np.round(np.where(mated, rng.normal(1.0, 1.0, 1500), rng.normal(0.0, 1.0, 1500)), 2)
    quality = rng.integers(0, 60, 1500).astype(float)  # many ties
    for fmr in (1e-1, 1e-2, 1e-3):
        curve = (
            edc_fixed(scores, mated, quality, fmr)
            if convention == "fixed"
            else edc_recomputed(scores, mated, quality, fmr)
        )
        discard, fnmr = _brute_force(scores, mated, quality, fmr, convention)
        np.testing.assert_allclose(curve.discard, discard)
        np.testing.assert_allclose(curve.fnmr, fnmr)


def test_weighted_fixed_curve_with_unit_weights_is_the_fixed_curve():
    scores, mated, quality = _synthetic(300, 5)
    quality = np.round(quality, 2)  # ties, discarded together
    plain = edc_fixed(scores, mated, quality, 1e-2)
    order = np.argsort(quality[mated], kind="stable")
    weight = np.ones(order.size)
    errors = (scores[mated] <= plain.threshold).astype(float)[order]
    from fiqa.evaluate.edc import group_starts

    curve = weighted_edc_fixed(weight, errors, group_starts(quality[mated][order]), 1e-2, plain.threshold)
    assert np.allclose(curve.discard, plain.discard) and np.allclose(curve.fnmr, plain.fnmr)
    # doubling one comparison's weight is counting it twice
    doubled = weight.copy()
    doubled[0] = 2.0
    twice = weighted_edc_fixed(doubled, errors * doubled, group_starts(quality[mated][order]), 1e-2, plain.threshold)
    assert twice.fnmr[0] == pytest.approx((errors.sum() + errors[0]) / (order.size + 1))


def _clustered(people: int, seed: int, photos: int = 6):
    """Comparisons of ``people`` identities with ``photos`` each, where quality and recognisability follow the
    person (one person's photos are all good or all poor, some people are hard to recognise), as in real data."""
    rng = np.random.default_rng(seed)
    person = np.repeat(np.arange(people), photos)
    quality = rng.random(people)[person] + rng.normal(0, 0.05, person.size)
    hard = rng.normal(0, 1.0, people)
    first, second = np.triu_indices(person.size, k=1)
    mated = person[first] == person[second]
    genuine = 2.0 + hard[person[first]] + 2 * np.minimum(quality[first], quality[second])
    scores = np.where(mated, genuine, 0.0) + rng.normal(0, 1, first.size)
    return scores, mated, pair_quality(quality, first, second), (person[first], person[second])


def test_identity_bootstrap_contains_the_point_and_is_wider_than_pairs_when_people_cluster():
    scores, mated, quality, identities = _clustered(100, 3)
    measures = {"q": quality, "random": np.random.default_rng(1).random(scores.size)}
    points = {name: edc(scores, mated, values, 1e-2, "fixed") for name, values in measures.items()}
    by_identity = identity_bootstrap_draws(scores, mated, measures, identities, 1e-2, (0.2, 0.3), 200, seed=2)
    by_pair = bootstrap_draws(scores, mated, measures, 1e-2, (0.2, 0.3), replicates=200, seed=2)
    wide = percentile_intervals(by_identity, points, (0.2, 0.3))["q"][0.3]
    narrow = percentile_intervals(by_pair, points, (0.2, 0.3))["q"][0.3]
    assert wide.low <= wide.value <= wide.high and wide.replicates == 200
    assert wide.high - wide.low > 1.8 * (narrow.high - narrow.low)  # ~2.5x here: pairs of a person move together
    better = paired_differences(by_identity, points, "random", (0.3,))["q"][0.3]
    assert better.high < 0 and better.share_lower > 0.95
