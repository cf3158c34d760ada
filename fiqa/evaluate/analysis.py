"""One dataset's numbers: thresholds, EDCs, normalised areas and bootstrap intervals for every pairing of a
face-recognition model with a quality measure, under both threshold conventions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fiqa.evaluate.acquire import Acquired
from fiqa.evaluate.datasets import Dataset
from fiqa.evaluate.degrade import degradation_of
from fiqa.evaluate.edc import (
    CONVENTIONS,
    EDC,
    Convention,
    bootstrap_draws,
    edc,
    identity_bootstrap_draws,
    pair_quality,
    paired_differences,
    percentile_intervals,
    threshold_at_fmr,
)
from fiqa.evaluate.pose import by_pose
from fiqa.evaluate.quality import QualityScores

ORACLE = "oracle (theoretical best)"
# Paired bootstrap differences are taken against these: the analytic scorer the trained single-pass models are
# judged against, and the two free baselines a learned measure must beat (detector confidence, face size).
REFERENCES = ("diffiqa", "det_confidence", "face_size")


@dataclass
class Comparisons:
    """One FR model's comparison scores over the pairs whose two samples both have a face."""

    recognition: str
    first: np.ndarray
    second: np.ndarray
    scores: np.ndarray
    mated: np.ndarray


@dataclass
class Settings:
    fmrs: tuple[float, ...] = (1e-2, 1e-3, 1e-4)
    uppers: tuple[float, ...] = (0.2, 0.3)
    auc_upper: float = 0.95
    replicates: int = 500
    recomputed_replicates: int = 100
    recomputed_ci_fmrs: tuple[float, ...] = (1e-3,)
    paired_fmrs: tuple[float, ...] = (1e-3,)
    seed: int = 0
    # The recomputed convention walks every quality group in Python: leave it out for millions of comparisons.
    conventions: tuple[Convention, ...] = CONVENTIONS
    # Fixed-convention intervals resample identities (comparisons of one person are not independent) or pairs.
    bootstrap_unit: str = "identity"
    # The measures every other one is paired with (differences on the same bootstrap replicates)
    references: tuple[str, ...] = REFERENCES


@dataclass
class Outcome:
    """The JSON-able results and the curves (for plots) of one dataset."""

    results: dict[str, Any]
    curves: dict[tuple[str, str, str, float], EDC] = field(default_factory=dict)  # (fr, quality, convention, fmr)


def comparisons(dataset: Dataset, faces: Acquired, recognition: str, embeddings: np.ndarray, similarity) -> Comparisons:
    usable = faces.ok[dataset.first] & faces.ok[dataset.second]
    usable &= np.isfinite(embeddings[dataset.first]).all(1) & np.isfinite(embeddings[dataset.second]).all(1)
    first, second = dataset.first[usable], dataset.second[usable]
    scores = similarity(embeddings[first], embeddings[second]).astype(np.float64)
    return Comparisons(recognition, first, second, scores, dataset.mated[usable])


def oracle_curve(scores: np.ndarray, mated: np.ndarray, threshold: float, fmr: float) -> EDC:
    """The theoretical best under the fixed threshold: false non-matches are discarded first."""
    genuine = scores[mated]
    count = genuine.size
    errors = int(np.count_nonzero(genuine <= threshold))
    kept = np.arange(count)
    fnmr = np.maximum(errors - kept, 0) / (count - kept)
    return EDC(kept / count, fnmr, "fixed", fmr, threshold, True, count)


def setting_of(quality: QualityScores, recognition: str) -> str:
    """How a quality measure relates to the FR model that makes the comparisons."""
    if quality.recognition is None:
        return "independent"
    return "same-recognition-model" if quality.recognition == recognition else "cross-recognition-model"


def _key(value: float) -> str:
    return f"{value:g}"


def analyse(
    dataset: Dataset,
    faces: Acquired,
    qualities: list[QualityScores],
    compared: list[Comparisons],
    settings: Settings,
    scored: np.ndarray | None = None,
) -> Outcome:
    """``scored``: the samples whose quality was measured (default: every sample a comparison uses)."""
    s = settings
    summary = dataset.summary()
    used = dataset.needed
    summary["faces_acquired"] = int((faces.ok & used).sum())
    summary["failures_to_acquire"] = int((~faces.ok & used).sum())
    results: dict[str, Any] = {"summary": summary, "recognition": {}}
    keys = [sample.key for sample in dataset.samples]
    if any("#" in key for key in keys):
        results["by_degradation"] = by_degradation(keys, faces, qualities)
    pose = by_pose(faces, qualities, used if scored is None else used & scored)
    if pose is not None:
        results["by_pose"] = pose
    outcome = Outcome(results)
    codes = dataset.identity_codes()
    for comp in compared:
        pair_q = {q.name: pair_quality(q.raw, comp.first, comp.second) for q in qualities}
        usable = np.ones(comp.scores.size, dtype=bool)
        # Comparisons a convention can discard need every measure's quality; under the fixed threshold those are
        # the mated ones (non-mated comparisons only set the threshold).
        discardable = comp.mated if "recomputed" not in s.conventions else np.ones_like(comp.mated)
        for values in pair_q.values():
            usable &= np.isfinite(values) | ~discardable
        scores, mated = comp.scores[usable], comp.mated[usable]
        pair_q = {name: values[usable] for name, values in pair_q.items()}
        identities = (codes[comp.first[usable]], codes[comp.second[usable]])
        fr: dict[str, Any] = {
            "mated": int(mated.sum()),
            "non_mated": int((~mated).sum()),
            "thresholds": {},
            "quality": {
                q.name: {"kind": q.kind, "tied_to": q.recognition, "setting": setting_of(q, comp.recognition)}
                for q in qualities
            },
        }
        fr["quality"][ORACLE] = {"kind": "reference", "tied_to": None, "setting": "uses the comparison outcomes"}
        results["recognition"][comp.recognition] = fr
        if not mated.any() or mated.all():
            fr["note"] = "needs both mated and non-mated comparisons"
            continue
        for fmr in s.fmrs:
            found = threshold_at_fmr(scores[~mated], fmr)
            start_fnmr = float(np.mean(scores[mated] <= found.value))
            fr["thresholds"][_key(fmr)] = {
                "value": found.value,
                "fmr_actual": found.fmr_actual,
                "resolved": found.resolved,
                "fnmr_at_0_discard": start_fnmr,
                "note": ""
                if found.resolved
                else f"FMR {fmr:g} is below resolution ({found.nonmated} non-mated "
                "comparisons): threshold = largest non-mated score (FMR 0)",
            }
            oracle = oracle_curve(scores, mated, found.value, fmr)
            outcome.curves[(comp.recognition, ORACLE, "fixed", fmr)] = oracle
            fr["quality"][ORACLE].setdefault("fixed", {})[_key(fmr)] = _areas(oracle, s, None)
            for convention in s.conventions:
                reps = s.replicates if convention == "fixed" else s.recomputed_replicates
                if convention == "recomputed" and fmr not in s.recomputed_ci_fmrs:
                    reps = 0
                curves = {name: edc(scores, mated, values, fmr, convention) for name, values in pair_q.items()}
                draws = {}
                if reps and convention == "fixed" and s.bootstrap_unit == "identity":
                    draws = identity_bootstrap_draws(scores, mated, pair_q, identities, fmr, s.uppers, reps, s.seed)
                elif reps:
                    draws = bootstrap_draws(scores, mated, pair_q, fmr, s.uppers, convention, reps, seed=s.seed)
                intervals = percentile_intervals(draws, curves, s.uppers) if draws else {}
                paired = {
                    reference: paired_differences(draws, curves, reference, s.uppers)
                    for reference in s.references
                    if reference in draws and convention == "fixed" and fmr in s.paired_fmrs
                }
                for name, curve in curves.items():
                    outcome.curves[(comp.recognition, name, convention, fmr)] = curve
                    entry = _areas(curve, s, intervals.get(name))
                    for reference, differences in paired.items():
                        if name in differences:
                            entry[f"vs_{reference}"] = {
                                f"pauc_{_key(upper)}": {k: _finite(v) for k, v in diff.as_dict().items()}
                                for upper, diff in differences[name].items()
                            }
                    fr["quality"][name].setdefault(convention, {})[_key(fmr)] = entry
    return outcome


def by_degradation(keys: list[str], faces: Acquired, qualities: list[QualityScores]) -> dict[str, Any]:
    """Per degradation tag (``original``, ``blur1``...): images, failures to acquire, median of each quality
    measure (models on the 0..100 scale): does each measure fall as the capture gets worse?"""
    tags = np.asarray([degradation_of(k) for k in keys])
    out: dict[str, Any] = {}
    for tag in sorted(set(tags), key=lambda t: (t != "original", t)):
        chosen = tags == tag
        entry: dict[str, Any] = {"images": int(chosen.sum()), "failed_to_acquire": int((chosen & ~faces.ok).sum())}
        for q in qualities:
            values = (q.score if q.score is not None else q.raw)[chosen & faces.ok]
            entry[q.name] = _finite(float(np.median(values))) if values.size else None
        out[tag] = entry
    return out


def _areas(curve: EDC, s: Settings, intervals) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "fnmr_at_0_discard": float(curve.fnmr[0]),
        "threshold_resolved": curve.resolved,
        f"auc_{_key(s.auc_upper)}": _finite(curve.normalised_area(s.auc_upper)),
    }
    for upper in s.uppers:
        if intervals:
            entry[f"pauc_{_key(upper)}"] = {k: _finite(v) for k, v in intervals[upper].as_dict().items()}
        else:
            entry[f"pauc_{_key(upper)}"] = {"value": _finite(curve.normalised_area(upper))}
    return entry


def _finite(value: float) -> float | None:
    """JSON has no NaN: an undefined area (FNMR 0 at discard 0) becomes null."""
    return float(value) if np.isfinite(value) else None
