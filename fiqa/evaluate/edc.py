"""Error-versus-Discard Characteristic (EDC) curves, their normalised areas, and the two threshold conventions.

Definitions used throughout (and stated in the report):

- Comparison scores are similarities; a comparison *matches* when its score is strictly above the threshold ``t``.
- ``t`` at a target FMR ``a`` over ``n`` non-mated scores is the ``(k+1)``-th largest of them with
  ``k = floor(a * n)``, so at most ``k`` non-mated comparisons match. When ``a * n < 1`` the target is below the
  resolution of the data: ``t`` is the largest non-mated score (FMR 0) and the result is flagged ``resolved=False``.
- Pair quality is the minimum of the two samples' qualities; pairs are discarded lowest quality first, and pairs
  of equal quality are discarded together (a quality threshold cannot split them), so the curve only has points
  at the achievable discard fractions and is a right-continuous step function between them (non-interpolated).
- ``fixed`` convention (ISO/IEC 29794-1, Schlett et al.): ``t`` is set once from all non-mated comparisons; the
  discard fraction counts mated comparisons only, the y value is the FNMR of the remaining mated comparisons.
- ``recomputed`` convention (CR-FIQA's evaluation script): mated and non-mated pairs are discarded together by pair
  quality, the discard fraction counts all pairs, and ``t`` is recomputed from the remaining non-mated pairs at
  every step. The curve ends where no mated or no non-mated pair remains.
- Normalised area up to ``b`` (DifFIQA's pAUC, MR-FIQA supplement Eq. 2 with ``a = 0``):
  ``integral_0^b FNMR(r) dr / (b * FNMR(0))``; 1.0 means "discarding did not help", lower is better.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Convention = Literal["fixed", "recomputed"]
CONVENTIONS: tuple[Convention, ...] = ("fixed", "recomputed")


@dataclass(frozen=True)
class Threshold:
    """A comparison threshold at a target FMR, the FMR it really gives, and whether the data can resolve it."""

    value: float
    fmr_target: float
    fmr_actual: float
    nonmated: int

    @property
    def resolved(self) -> bool:
        return self.fmr_target * self.nonmated >= 1.0


@dataclass(frozen=True)
class EDC:
    """A non-interpolated EDC: FNMR ``fnmr[i]`` holds on ``[discard[i], discard[i+1])``."""

    discard: np.ndarray
    fnmr: np.ndarray
    convention: Convention
    fmr: float
    threshold: float  # the start threshold (the only one for ``fixed``)
    resolved: bool
    count: int  # comparisons the discard fraction counts (mated for fixed, all for recomputed)

    def at(self, fraction: float) -> float:
        """FNMR after discarding ``fraction`` (largest achievable discard not above it)."""
        index = int(np.searchsorted(self.discard, fraction, side="right")) - 1
        return float(self.fnmr[max(index, 0)])

    def area(self, upper: float, lower: float = 0.0) -> float:
        """Integral of the step curve over ``[lower, upper]``; the last value holds to ``upper``."""
        edges = np.append(self.discard, np.inf)
        left = np.clip(edges[:-1], lower, upper)
        right = np.clip(edges[1:], lower, upper)
        return float(np.sum(self.fnmr * (right - left)))

    def normalised_area(self, upper: float, lower: float = 0.0) -> float:
        """MR-FIQA Eq. 2: area over ``[lower, upper]`` / ((upper - lower) * FNMR(lower)); NaN if FNMR(lower) = 0."""
        start = self.at(lower)
        if start == 0.0:
            return float("nan")
        return self.area(upper, lower) / ((upper - lower) * start)


def threshold_at_fmr(nonmated: np.ndarray, fmr: float) -> Threshold:
    """The lowest threshold whose FMR (match = score > t) does not exceed ``fmr``."""
    scores = np.asarray(nonmated, dtype=np.float64)
    if scores.size == 0:
        raise ValueError("no non-mated comparisons: a threshold at a target FMR cannot be set")
    allowed = int(np.floor(fmr * scores.size + 1e-9))
    value = -np.inf if allowed >= scores.size else float(-np.partition(-scores, allowed)[allowed])
    actual = float(np.count_nonzero(scores > value)) / scores.size
    return Threshold(value=value, fmr_target=fmr, fmr_actual=actual, nonmated=int(scores.size))


def pair_quality(sample_quality: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Quality of a comparison: the worse of its two samples."""
    sample_quality = np.asarray(sample_quality, dtype=np.float64)
    return np.minimum(sample_quality[first], sample_quality[second])


def group_starts(sorted_quality: np.ndarray) -> np.ndarray:
    """Indices where a new run of equal quality begins in an ascending array: the achievable discard counts."""
    if sorted_quality.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(([0], np.flatnonzero(sorted_quality[1:] != sorted_quality[:-1]) + 1))


def edc_fixed(
    scores: np.ndarray,
    mated: np.ndarray,
    quality: np.ndarray,
    fmr: float,
    threshold: float | None = None,
) -> EDC:
    """EDC with the threshold fixed from all non-mated comparisons (or given), discarding mated comparisons."""
    scores = np.asarray(scores, dtype=np.float64)
    mated = np.asarray(mated, dtype=bool)
    quality = np.asarray(quality, dtype=np.float64)
    if not mated.any():
        raise ValueError("no mated comparisons: FNMR is undefined")
    if threshold is None:
        found = threshold_at_fmr(scores[~mated], fmr)
        value, resolved = found.value, found.resolved
    else:
        value, resolved = float(threshold), True
    order = np.argsort(quality[mated], kind="stable")
    genuine = scores[mated][order]
    count = genuine.size
    errors = (genuine <= value).astype(np.int64)
    remaining_errors = np.concatenate((np.cumsum(errors[::-1])[::-1], [0]))
    starts = group_starts(quality[mated][order])
    fnmr = remaining_errors[starts] / (count - starts)
    return EDC(starts / count, fnmr, "fixed", fmr, value, resolved, count)


def edc_recomputed(scores: np.ndarray, mated: np.ndarray, quality: np.ndarray, fmr: float) -> EDC:
    """EDC discarding all pairs by quality and re-deriving the threshold from the remaining non-mated pairs."""
    scores = np.asarray(scores, dtype=np.float64)
    mated = np.asarray(mated, dtype=bool)
    quality = np.asarray(quality, dtype=np.float64)
    if not mated.any():
        raise ValueError("no mated comparisons: FNMR is undefined")
    if mated.all():
        raise ValueError("no non-mated comparisons: a threshold at a target FMR cannot be set")
    order = np.argsort(quality, kind="stable")
    ordered_scores, ordered_mated = scores[order], mated[order]
    count = scores.size
    starts = group_starts(quality[order])
    # Mated / non-mated pairs before each position, to find each remainder's share of both.
    mated_before = np.concatenate(([0], np.cumsum(ordered_mated)))
    genuine = ordered_scores[ordered_mated]
    impostor = ordered_scores[~ordered_mated]
    total_impostors = impostor.size
    keep_top = int(np.floor(fmr * total_impostors + 1e-9)) + 1
    # Walk the groups from the best quality down, keeping the largest ``keep_top`` remaining non-mated scores.
    top = np.empty(0)
    discard, fnmr, thresholds = [], [], []
    group_ends = np.append(starts[1:], count)
    for start, end in zip(starts[::-1], group_ends[::-1], strict=True):
        imp_lo, imp_hi = start - mated_before[start], end - mated_before[end]
        if imp_hi > imp_lo:
            merged = np.concatenate((top, impostor[imp_lo:imp_hi]))
            if merged.size > keep_top:
                merged = np.partition(merged, merged.size - keep_top)[merged.size - keep_top :]
            top = np.sort(merged)[::-1]
        remaining_impostors = total_impostors - imp_lo
        remaining_genuine = genuine[mated_before[start] :]
        if remaining_impostors == 0 or remaining_genuine.size == 0:
            continue
        allowed = int(np.floor(fmr * remaining_impostors + 1e-9))
        value = -np.inf if allowed >= remaining_impostors else top[allowed]
        discard.append(start / count)
        fnmr.append(np.count_nonzero(remaining_genuine <= value) / remaining_genuine.size)
        thresholds.append(value)
    discard_arr, fnmr_arr = np.asarray(discard[::-1]), np.asarray(fnmr[::-1])
    resolved = fmr * total_impostors >= 1.0
    return EDC(discard_arr, fnmr_arr, "recomputed", fmr, float(thresholds[-1]), resolved, count)


def edc(
    scores: np.ndarray, mated: np.ndarray, quality: np.ndarray, fmr: float, convention: Convention = "fixed"
) -> EDC:
    """The EDC under the named threshold convention."""
    if convention == "fixed":
        return edc_fixed(scores, mated, quality, fmr)
    if convention == "recomputed":
        return edc_recomputed(scores, mated, quality, fmr)
    raise ValueError(f"unknown threshold convention {convention!r}; use one of {CONVENTIONS}")


def theoretical_best(start_fnmr: float, discard: np.ndarray) -> np.ndarray:
    """The lowest FNMR any quality measure can reach: every discarded comparison was a false non-match."""
    discard = np.asarray(discard, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        best = np.where(discard < 1.0, (start_fnmr - discard) / (1.0 - discard), 0.0)
    return np.clip(best, 0.0, None)


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile bootstrap interval."""

    value: float
    low: float
    high: float
    replicates: int

    def as_dict(self) -> dict[str, float | int]:
        return {"value": self.value, "low": self.low, "high": self.high, "replicates": self.replicates}


def bootstrap_draws(
    scores: np.ndarray,
    mated: np.ndarray,
    qualities: dict[str, np.ndarray],
    fmr: float,
    uppers: tuple[float, ...],
    convention: Convention = "fixed",
    replicates: int = 500,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Normalised areas up to each of ``uppers`` in each bootstrap replicate: (replicates, len(uppers)) per measure.

    Pairs are resampled with replacement, mated and non-mated separately (each replicate keeps the dataset's
    counts), and the same replicates serve every quality measure (a paired comparison). Thresholds are re-derived
    in every replicate; under ``fixed`` one threshold per replicate serves all measures, as it ignores quality.
    """
    scores = np.asarray(scores, dtype=np.float64)
    mated = np.asarray(mated, dtype=bool)
    rng = np.random.default_rng(seed)
    genuine_idx, impostor_idx = np.flatnonzero(mated), np.flatnonzero(~mated)
    draws: dict[str, list[list[float]]] = {name: [] for name in qualities}
    for _ in range(replicates):
        genuine = rng.choice(genuine_idx, genuine_idx.size)
        impostor = rng.choice(impostor_idx, impostor_idx.size)
        if convention == "fixed":
            threshold = threshold_at_fmr(scores[impostor], fmr).value
            curves = {
                name: edc_fixed(scores[genuine], mated[genuine], np.asarray(q)[genuine], fmr, threshold)
                for name, q in qualities.items()
            }
        else:
            pick = np.concatenate((genuine, impostor))
            curves = {
                name: edc_recomputed(scores[pick], mated[pick], np.asarray(q)[pick], fmr)
                for name, q in qualities.items()
            }
        for name, curve in curves.items():
            draws[name].append([curve.normalised_area(upper) for upper in uppers])
    return {name: np.asarray(rows, dtype=np.float64).reshape(len(rows), len(uppers)) for name, rows in draws.items()}


def identity_bootstrap_draws(
    scores: np.ndarray,
    mated: np.ndarray,
    qualities: dict[str, np.ndarray],
    identities: tuple[np.ndarray, np.ndarray],
    fmr: float,
    uppers: tuple[float, ...],
    replicates: int = 500,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """``bootstrap_draws`` under the fixed convention, resampling identities instead of pairs.

    Comparisons that share an identity are not independent (one person's photos are all good or all poor), so
    each replicate draws the identities with replacement and weights every comparison by how often its
    identities were drawn (a mated one by its identity's count, a non-mated one by the product of its two
    identities' counts). The threshold is the weighted ``(k+1)``-th largest non-mated score of the replicate;
    the same replicates serve every quality measure. Returns (replicates, len(uppers)) areas per measure.
    """
    scores = np.asarray(scores, dtype=np.float64)
    mated = np.asarray(mated, dtype=bool)
    first_id, second_id = (np.asarray(side, dtype=np.int64) for side in identities)
    population = int(max(first_id.max(), second_id.max())) + 1
    impostor_order = np.argsort(-scores[~mated], kind="stable")
    impostor_scores = scores[~mated][impostor_order]
    impostor_a, impostor_b = first_id[~mated][impostor_order], second_id[~mated][impostor_order]
    genuine_scores, genuine_id = scores[mated], first_id[mated]
    ranked = {}
    for name, quality in qualities.items():
        order = np.argsort(np.asarray(quality, dtype=np.float64)[mated], kind="stable")
        ranked[name] = (order, group_starts(np.asarray(quality, dtype=np.float64)[mated][order]))
    rng = np.random.default_rng(seed)
    draws: dict[str, list[list[float]]] = {name: [] for name in qualities}
    for _ in range(replicates):
        counts = np.bincount(rng.integers(0, population, population), minlength=population).astype(np.float64)
        weight = counts[impostor_a] * counts[impostor_b]
        cumulative = np.cumsum(weight)
        allowed = np.floor(fmr * cumulative[-1] + 1e-9) if cumulative.size else 0.0
        position = int(np.searchsorted(cumulative, allowed, side="right"))
        threshold = -np.inf if position >= impostor_scores.size else float(impostor_scores[position])
        genuine_weight = counts[genuine_id]
        errors = genuine_weight * (genuine_scores <= threshold)
        for name, (order, starts) in ranked.items():
            curve = weighted_edc_fixed(genuine_weight[order], errors[order], starts, fmr, threshold)
            draws[name].append([curve.normalised_area(upper) for upper in uppers])
    return {name: np.asarray(rows, dtype=np.float64).reshape(len(rows), len(uppers)) for name, rows in draws.items()}


def weighted_edc_fixed(weight: np.ndarray, errors: np.ndarray, starts: np.ndarray, fmr: float, threshold: float) -> EDC:
    """A fixed-threshold EDC over mated comparisons carrying weights, already in discard order."""
    total = weight.sum()
    before = np.concatenate(([0.0], np.cumsum(weight)))[starts]
    remaining_errors = np.concatenate((np.cumsum(errors[::-1])[::-1], [0.0]))[starts]
    remaining = total - before
    with np.errstate(divide="ignore", invalid="ignore"):
        fnmr = np.where(remaining > 0, remaining_errors / remaining, 0.0)
        discard = before / total if total > 0 else np.zeros_like(before)
    return EDC(discard, fnmr, "fixed", fmr, threshold, True, int(weight.size))


def percentile_intervals(
    draws: dict[str, np.ndarray], points: dict[str, EDC], uppers: tuple[float, ...], confidence: float = 0.95
) -> dict[str, dict[float, Interval]]:
    """Each measure's area on the full data (``points``) with the percentile interval of its finite draws."""
    tail = (1.0 - confidence) / 2.0 * 100.0
    out: dict[str, dict[float, Interval]] = {}
    for name, values in draws.items():
        out[name] = {}
        for column, upper in enumerate(uppers):
            finite = values[:, column][np.isfinite(values[:, column])]
            point = points[name].normalised_area(upper)
            if finite.size == 0:
                out[name][upper] = Interval(point, float("nan"), float("nan"), 0)
                continue
            low, high = np.percentile(finite, [tail, 100.0 - tail])
            out[name][upper] = Interval(point, float(low), float(high), int(finite.size))
    return out


@dataclass(frozen=True)
class PairedDifference:
    """A measure's area minus a reference measure's, over the same bootstrap replicates."""

    value: float  # on the full data
    low: float
    high: float
    share_lower: float  # of the replicates where both are defined: how often the measure's area is the lower
    replicates: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "share_lower": self.share_lower,
            "replicates": self.replicates,
        }


def paired_differences(
    draws: dict[str, np.ndarray],
    points: dict[str, EDC],
    reference: str,
    uppers: tuple[float, ...],
    confidence: float = 0.95,
) -> dict[str, dict[float, PairedDifference]]:
    """Every other measure against ``reference`` on the same replicates. Two measures' intervals can overlap
    while one is lower in nearly every replicate: the paired difference is what says whether one is better."""
    tail = (1.0 - confidence) / 2.0 * 100.0
    out: dict[str, dict[float, PairedDifference]] = {}
    for name, values in draws.items():
        if name == reference:
            continue
        out[name] = {}
        for column, upper in enumerate(uppers):
            delta = values[:, column] - draws[reference][:, column]
            delta = delta[np.isfinite(delta)]
            point = points[name].normalised_area(upper) - points[reference].normalised_area(upper)
            if delta.size == 0:
                out[name][upper] = PairedDifference(point, float("nan"), float("nan"), float("nan"), 0)
                continue
            low, high = np.percentile(delta, [tail, 100.0 - tail])
            share = float(np.mean(delta < 0))
            out[name][upper] = PairedDifference(point, float(low), float(high), share, int(delta.size))
    return out
