"""``python -m fiqa calibrate``: a quality model's accept threshold (0..100, the gateway's scale) for a target,
with a bootstrap interval, written into the model card's ``threshold:`` block (the gateway's default decision
threshold; ``/v1/models`` shows it with its source).

Targets (the gateway rejects a face when its score is below the threshold):

- ``reject-rate=R``: the highest threshold that rejects at most a share R of the detected faces.
- ``fnmr=X`` (with ``--fmr F``): the lowest threshold at which the FNMR at FMR F of the comparisons whose two
  faces both pass is at most X (comparison threshold fixed from all non-mated comparisons, ISO convention).

The data a threshold is calibrated on is named in its source; any rate measured on that data afterwards is
in-sample. ``--check`` datasets report the same threshold's rates on other data.
"""

from __future__ import annotations

import argparse
import logging
import re
import shlex
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import yaml

from fiqa.data.runtime import offline_runtime
from fiqa.evaluate import analysis, methods, report
from fiqa.evaluate.acquire import acquire, faces_tag
from fiqa.evaluate.cache import Cache
from fiqa.evaluate.datasets import Dataset
from fiqa.evaluate.degrade import degraded_dataset
from fiqa.evaluate.edc import group_starts, threshold_at_fmr
from fiqa.evaluate.quality import model_scores
from fiqa.evaluate.recognition import embeddings, recognizers
from fiqa.evaluate.run import REPO, parse_dataset, parse_folds
from service.registry import ModelCard
from service.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    kind: str  # "reject-rate" or "fnmr"
    value: float
    fmr: float | None = None

    @classmethod
    def parse(cls, text: str, fmr: float | None) -> Target:
        kind, _, value = text.partition("=")
        if kind not in ("reject-rate", "fnmr") or not value:
            raise ValueError(f"target must be reject-rate=R or fnmr=X, got {text!r}")
        if kind == "fnmr" and fmr is None:
            raise ValueError("an fnmr target needs --fmr")
        return cls(kind, float(value), fmr if kind == "fnmr" else None)

    def __str__(self) -> str:
        return f"{self.kind}={self.value:g}" + (f" at FMR {self.fmr:g}" if self.fmr else "")


@dataclass(frozen=True)
class Calibration:
    value: float
    low: float
    high: float
    replicates: int
    achieved: str


def reject_rate_threshold(scores: np.ndarray, rate: float) -> float:
    """The highest threshold t with share(score < t) <= rate."""
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    allowed = int(np.floor(rate * ordered.size + 1e-9))
    return float(ordered[allowed]) if allowed < ordered.size else float(np.inf)


def fnmr_threshold(
    sample_scores: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    similarity: np.ndarray,
    mated: np.ndarray,
    target: float,
    fmr: float,
) -> float:
    """The lowest quality threshold whose surviving mated pairs have FNMR <= target (NaN if never reached)."""
    comparison = threshold_at_fmr(similarity[~mated], fmr).value
    quality = np.minimum(sample_scores[first], sample_scores[second])[mated]
    order = np.argsort(quality, kind="stable")
    quality, errors = quality[order], (similarity[mated][order] <= comparison).astype(np.int64)
    remaining = np.concatenate((np.cumsum(errors[::-1])[::-1], [0]))
    starts = group_starts(quality)
    fnmr = remaining[starts] / (quality.size - starts)
    reached = np.flatnonzero(fnmr <= target)
    return float(quality[starts[reached[0]]]) if reached.size else float("nan")


def fnmr_after(
    sample_scores: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    similarity: np.ndarray,
    mated: np.ndarray,
    threshold: float,
    fmr: float,
) -> tuple[float, float]:
    """(FNMR at FMR over the mated pairs whose two faces pass, share of mated pairs discarded)."""
    comparison = threshold_at_fmr(similarity[~mated], fmr).value
    keep = (np.minimum(sample_scores[first], sample_scores[second]) >= threshold)[mated]
    genuine = similarity[mated][keep]
    return (float(np.mean(genuine <= comparison)) if genuine.size else float("nan")), float(1 - keep.mean())


def calibrate_reject_rate(scores: np.ndarray, rate: float, replicates: int, seed: int = 0) -> Calibration:
    scores = scores[np.isfinite(scores)]
    value = reject_rate_threshold(scores, rate)
    rng = np.random.default_rng(seed)
    draws = [reject_rate_threshold(rng.choice(scores, scores.size), rate) for _ in range(replicates)]
    low, high = np.percentile(draws, [2.5, 97.5])
    achieved = f"rejects {np.mean(scores < value):.2%} of {scores.size} faces"
    return Calibration(value, float(low), float(high), replicates, achieved)


def calibrate_fnmr(
    sample_scores: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    similarity: np.ndarray,
    mated: np.ndarray,
    target: Target,
    replicates: int,
    seed: int = 0,
) -> Calibration:
    assert target.fmr is not None
    value = fnmr_threshold(sample_scores, first, second, similarity, mated, target.value, target.fmr)
    if not np.isfinite(value):
        raise ValueError(f"{target} is not reached at any quality threshold on this data")
    rng = np.random.default_rng(seed)
    genuine, impostor = np.flatnonzero(mated), np.flatnonzero(~mated)
    draws = []
    for _ in range(replicates):
        pick = np.concatenate((rng.choice(genuine, genuine.size), rng.choice(impostor, impostor.size)))
        draws.append(
            fnmr_threshold(
                sample_scores, first[pick], second[pick], similarity[pick], mated[pick], target.value, target.fmr
            )
        )
    finite = np.asarray(draws)[np.isfinite(draws)]
    low, high = np.percentile(finite, [2.5, 97.5]) if finite.size else (np.nan, np.nan)
    fnmr, discarded = fnmr_after(sample_scores, first, second, similarity, mated, value, target.fmr)
    start, _ = fnmr_after(sample_scores, first, second, similarity, mated, -np.inf, target.fmr)
    faces = sample_scores[np.isfinite(sample_scores)]
    achieved = (
        f"FNMR {start:.4f} -> {fnmr:.4f} at FMR {target.fmr:g}, {discarded:.1%} of mated pairs discarded, "
        f"{np.mean(faces < value):.1%} of faces rejected"
    )
    return Calibration(value, float(low), float(high), int(finite.size), achieved)


def write_card_threshold(card_path: Path, value: float, source: str) -> None:
    """Replace (or add) the card's top-level ``threshold:`` block, leaving every other line as it is."""
    text = card_path.read_text()
    block = f"threshold:\n  value: {value:.2f}\n  source: {yaml.safe_dump(source, width=10**6).strip()}\n"
    pattern = re.compile(r"^threshold:.*\n(?:[ \t]+.*\n)*", re.MULTILINE)
    new = pattern.sub(lambda _: block, text, count=1) if pattern.search(text) else text.rstrip("\n") + "\n" + block
    card = ModelCard.model_validate(yaml.safe_load(new))  # refuse to write a card the registry would not load
    assert card.threshold is not None and abs(card.threshold.value - round(value, 2)) < 1e-9
    card_path.write_text(new)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="quality model card name, e.g. diffiqa")
    parser.add_argument("--target", required=True, help="reject-rate=R or fnmr=X")
    parser.add_argument("--fmr", type=float, default=None, help="FMR of an fnmr target, e.g. 1e-3")
    parser.add_argument("--dataset", required=True, metavar="NAME=PATH[:LAYOUT]", help="calibration data")
    parser.add_argument(
        "--check",
        action="append",
        default=[],
        metavar="NAME=PATH[:LAYOUT]",
        help="other data to report the threshold's rates on (held out)",
    )
    parser.add_argument(
        "--check-degraded",
        action="append",
        default=[],
        metavar="NAME",
        help="also check NAME-degraded, built from the --check dataset NAME as evaluate does",
    )
    parser.add_argument("--fr", default=None, help="FR model for fnmr targets (default: the model's own)")
    parser.add_argument("--identity-pattern", default=None)
    parser.add_argument("--folds", default=None, help="pairs protocols: only these folds, e.g. 1-4")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dry-run", action="store_true", help="print, do not write the card or the report")
    parser.add_argument("--report-only", action="store_true", help="record in the report, leave the card alone")
    parser.add_argument("--cache", type=Path, default=REPO / "data" / "cache")
    parser.add_argument("--reports", type=Path, default=REPO / "reports")


def _scored(runtime: Runtime, dataset: Dataset, model: str, cache_root: Path, fr: str | None):
    cache = Cache(cache_root, dataset.cache_name, dataset.fingerprint)
    faces = acquire(runtime, dataset, cache, needed=dataset.needed)
    tag = faces_tag(runtime, False)
    scores = model_scores(runtime, model, faces, cache, tag).score
    if fr is None:
        return scores, None
    recognizer = recognizers(runtime, [fr])[0]
    vectors = embeddings(recognizer, dataset, faces, cache, tag)
    return scores, analysis.comparisons(dataset, faces, fr, vectors, recognizer.similarity)


def main(args: argparse.Namespace) -> int:
    target = Target.parse(args.target, args.fmr)
    runtime = offline_runtime(ort_intra_op_threads=1, cpu_workers=1)  # one inference thread: shared machines
    card = runtime.registry[args.model]
    fr = (args.fr or (card.uses[0] if card.uses else "fr_feature")) if target.kind == "fnmr" else None
    dataset = parse_dataset(args.dataset, args.identity_pattern)
    if args.folds and dataset.fold is not None:
        dataset = dataset.select_folds(parse_folds(args.folds))
    scores, compared = _scored(runtime, dataset, args.model, args.cache, fr)
    if target.kind == "reject-rate":
        result = calibrate_reject_rate(scores, target.value, args.bootstrap, args.seed)
    else:
        assert compared is not None
        result = calibrate_fnmr(
            scores, compared.first, compared.second, compared.scores, compared.mated, target, args.bootstrap, args.seed
        )
    held_out = []
    checks = [parse_dataset(spec, args.identity_pattern) for spec in args.check]
    by_name = {d.name: d for d in checks}
    checks += [degraded_dataset(by_name[name], seed=args.seed) for name in args.check_degraded]
    for other in checks:
        other_scores, other_comp = _scored(runtime, other, args.model, args.cache, fr)
        faces = other_scores[np.isfinite(other_scores)]
        text = f"{other.name}: rejects {np.mean(faces < result.value):.1%} of {faces.size} faces"
        if other_comp is not None and target.fmr is not None:
            fnmr, discarded = fnmr_after(
                other_scores,
                other_comp.first,
                other_comp.second,
                other_comp.scores,
                other_comp.mated,
                result.value,
                target.fmr,
            )
            text += f", FNMR {fnmr:.4f} at FMR {target.fmr:g} ({discarded:.1%} of mated pairs discarded)"
        held_out.append(text)
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    name = dataset.name + (f" View-2 folds {args.folds}" if args.folds and dataset.fold is not None else "")
    source = (
        f"calibrated {date} by `python -m fiqa calibrate`: {target} on {name} "
        f"({int(np.isfinite(scores).sum())} faces{f', FR model {fr}' if fr else ''}); "
        f"95% bootstrap CI [{result.low:.2f}, {result.high:.2f}] ({result.replicates} replicates); "
        f"{result.achieved} (in-sample)"
    )
    print(
        f"{args.model}: threshold {result.value:.2f} (95% CI [{result.low:.2f}, {result.high:.2f}]); {result.achieved}"
    )
    for line in held_out:
        print(f"  held out: {line}")
    if args.dry_run:
        return 0
    if not args.report_only:
        write_card_threshold(runtime.registry.models_dir / args.model / "card.yaml", result.value, source)
    json_path = args.reports / "evaluation.json"
    merged = report.load(json_path)
    if not args.report_only:  # the card holds one threshold: earlier calibrations of this model no longer apply
        for entry in merged.get("calibration", {}).values():
            if entry["model"] == args.model:
                entry["written"] = False
    merged.setdefault("calibration", {})[f"{args.model} {target}"] = {
        "model": args.model,
        "target": str(target),
        "dataset": name,
        "value": round(result.value, 2),
        "low": result.low,
        "high": result.high,
        "replicates": result.replicates,
        "achieved": result.achieved,
        "held_out": "; ".join(held_out),
        "written": not args.report_only,
        "date": date,
        "command": "python -m fiqa calibrate " + " ".join(shlex.quote(a) for a in sys.argv[2:]),
        "source": source,
    }
    report.save(merged, json_path)
    (args.reports / "evaluation.md").write_text(report.render(merged, methods.block(merged, args.reports)))
    print(f"wrote {json_path}" + ("" if args.report_only else f" and models/{args.model}/card.yaml"))
    runtime.shutdown()
    return 0
