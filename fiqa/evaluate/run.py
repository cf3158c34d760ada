"""``python -m fiqa evaluate``: datasets -> faces -> quality + comparison scores -> EDC/pAUC report and plots.

Example (the published report)::

    python -m fiqa evaluate --dataset lfw=../shared/data/lfw:pairs-all --dataset orl=../shared/data/orl \\
        --dataset yale=../shared/data/yalefaces:flat --degrade orl --degrade yale --pose lfw --pose orl \\
        --fr all --conventions fixed

Each ``--dataset NAME=PATH[:LAYOUT]`` (layout: auto, folders, flat, pairs, pairs-all, celeba-val, bin) is
evaluated and replaces its entry in ``reports/evaluation.json``; ``reports/evaluation.md`` is re-rendered from all
entries.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from fiqa.data.runtime import offline_runtime
from fiqa.evaluate import analysis, methods, plots, report
from fiqa.evaluate.acquire import acquire, faces_tag
from fiqa.evaluate.cache import Cache
from fiqa.evaluate.datasets import Dataset, open_dataset
from fiqa.evaluate.degrade import degraded_dataset
from fiqa.evaluate.pose import turned_subset
from fiqa.evaluate.quality import QualityScores, all_scores
from fiqa.evaluate.recognition import embeddings, recognizers
from service.runtime import Runtime

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", action="append", default=[], metavar="NAME=PATH[:LAYOUT]", required=True)
    parser.add_argument(
        "--degrade",
        action="append",
        default=[],
        metavar="NAME",
        help="also evaluate NAME-degraded: each image plus 2 degraded copies (seeded)",
    )
    parser.add_argument(
        "--pose",
        action="append",
        default=[],
        metavar="NAME",
        help="also evaluate NAME-pose: NAME's comparisons that hold a turned face (yaw index from the landmarks)",
    )
    parser.add_argument(
        "--conventions", default="fixed,recomputed", help="threshold conventions, comma-separated (fixed, recomputed)"
    )
    parser.add_argument(
        "--bootstrap-unit",
        choices=("identity", "pair"),
        default="identity",
        help="what the fixed-convention bootstrap resamples",
    )
    parser.add_argument("--identity-pattern", default=None, help="regex, group 1 = identity (flat layout)")
    parser.add_argument("--aligned", action="store_true", help="images are already-aligned crops: no detection")
    parser.add_argument("--fr", default="fr_feature,dlib", help="FR models, comma-separated, or 'all'")
    parser.add_argument(
        "--dlib-chip",
        choices=("dlib", "resize"),
        default="dlib",
        help="dlib input: its own 150x150 chip from its 5 landmarks, or the aligned crop resized",
    )
    parser.add_argument(
        "--models", default=None, help="quality models, comma-separated, or 'none' (default: every card served)"
    )
    parser.add_argument("--fmr", default="1e-2,1e-3,1e-4")
    parser.add_argument("--bootstrap", type=int, default=500, help="replicates, fixed-threshold convention")
    parser.add_argument("--bootstrap-recomputed", type=int, default=100, help="replicates, recomputed convention")
    parser.add_argument("--limit", type=int, default=None, help="first N samples only (smoke runs)")
    parser.add_argument("--folds", default=None, help="pairs protocols: only these folds, e.g. 1-3 or 1,4")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads (1: runs beside other jobs)")
    parser.add_argument("--cache", type=Path, default=REPO / "data" / "cache", help="'' disables the cache")
    parser.add_argument("--reports", type=Path, default=REPO / "reports")


def parse_dataset(spec: str, pattern: str | None) -> Dataset:
    name, _, location = spec.partition("=")
    if not location:
        raise SystemExit(f"--dataset wants NAME=PATH[:LAYOUT], got {spec!r}")
    path, _, layout = location.partition(":")
    return open_dataset(Path(path), layout or "auto", name=name, pattern=pattern)


def _rows(quality: QualityScores, used: np.ndarray) -> QualityScores:
    """The scores of the samples a run used (a fold subset leaves the others unscored)."""
    score = None if quality.score is None else quality.score[used]
    return QualityScores(quality.name, quality.kind, quality.raw[used], score, quality.recognition)


def parse_folds(text: str) -> list[int]:
    """``1-3,5`` -> [1, 2, 3, 5]."""
    out: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        out += list(range(int(low), int(high or low) + 1))
    return out


def _limit(dataset: Dataset, count: int | None) -> Dataset:
    if count is None or count >= len(dataset.samples):
        return dataset
    keep = (dataset.first < count) & (dataset.second < count)
    return Dataset(
        dataset.name,
        dataset.samples[:count],
        dataset.first[keep],
        dataset.second[keep],
        dataset.mated[keep],
        dataset.protocol + f", first {count} samples",
        family=dataset.cache_name,
    )


def evaluate_one(runtime: Runtime, dataset: Dataset, args: argparse.Namespace, settings: analysis.Settings) -> tuple:
    cache = Cache(args.cache if str(args.cache) else None, dataset.cache_name, dataset.fingerprint)
    started = time.monotonic()
    faces = acquire(runtime, dataset, cache, aligned=args.aligned, needed=dataset.needed)
    tag = faces_tag(runtime, args.aligned)
    models = None if args.models is None else ([] if args.models == "none" else args.models.split(","))
    # Fixed threshold only: quality is needed only where a comparison can be discarded (mated ones).
    rows = dataset.needed if "recomputed" in settings.conventions else dataset.in_mated
    qualities = all_scores(runtime, dataset, faces, cache, tag, models, args.aligned, args.seed, rows)
    compared = []
    for recognizer in recognizers(runtime, args.fr.split(","), args.dlib_chip):
        vectors = embeddings(recognizer, dataset, faces, cache, tag)
        compared.append(analysis.comparisons(dataset, faces, recognizer.name, vectors, recognizer.similarity))
    log.info("%s: scores ready in %.0f s; computing EDCs", dataset.name, time.monotonic() - started)
    outcome = analysis.analyse(dataset, faces, qualities, compared, settings, rows)
    outcome.results["dlib_chip"] = args.dlib_chip if not args.aligned else "resize (aligned crops given)"
    log.info("%s: done in %.0f s", dataset.name, time.monotonic() - started)
    return outcome, qualities, faces


def main(args: argparse.Namespace) -> int:
    settings = analysis.Settings(
        fmrs=tuple(float(v) for v in args.fmr.split(",")),
        replicates=args.bootstrap,
        recomputed_replicates=args.bootstrap_recomputed,
        seed=args.seed,
        conventions=tuple(args.conventions.split(",")),
        bootstrap_unit=args.bootstrap_unit,
    )
    runtime = offline_runtime(ort_intra_op_threads=args.threads, cpu_workers=1)
    datasets = [_limit(parse_dataset(spec, args.identity_pattern), args.limit) for spec in args.dataset]
    if args.folds:
        folds = parse_folds(args.folds)
        datasets = [d.select_folds(folds) if d.fold is not None else d for d in datasets]
    by_name = {d.name: d for d in datasets}
    for name in args.degrade + args.pose:
        if name not in by_name:
            raise SystemExit(f"--degrade/--pose {name}: no --dataset of that name")
    for name in args.degrade:
        datasets.append(degraded_dataset(by_name[name], seed=args.seed))
    args.reports.mkdir(parents=True, exist_ok=True)
    json_path = args.reports / "evaluation.json"
    merged = report.load(json_path)
    figures = set(merged.get("meta", {}).get("figures", []))
    commands = merged.get("meta", {}).get("commands", [])
    command = "python -m fiqa evaluate " + " ".join(shlex.quote(a) for a in sys.argv[2:])

    def record(dataset: Dataset, outcome: analysis.Outcome, qualities: list[QualityScores]) -> None:
        label = dataset.name if dataset.fold is None or not args.folds else f"{dataset.name}-folds{args.folds}"
        merged["datasets"][label] = outcome.results
        for recognition in outcome.results["recognition"]:
            for convention in settings.conventions:
                path = args.reports / f"edc-{label}-{recognition}-{convention}.png"
                plots.edc_figure(outcome, label, recognition, convention, settings.fmrs, path)
                figures.add(path.name)
        path = args.reports / f"quality-{label}.png"
        used = dataset.needed
        plots.distribution_figure(
            [_rows(q, used) for q in qualities],
            [s.key for s, u in zip(dataset.samples, used, strict=True) if u],
            label,
            path,
        )
        figures.add(path.name)
        merged["meta"] = {
            "updated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "fmrs": [f"{f:g}" for f in settings.fmrs],
            "replicates": settings.replicates,
            "recomputed_replicates": settings.recomputed_replicates,
            "bootstrap_unit": settings.bootstrap_unit,
            "figures": sorted(figures),
            "commands": list(dict.fromkeys([*commands, command])),
            "skipped": [name for name in runtime.methods if runtime.missing_files(name)],
        }
        report.save(merged, json_path)
        (args.reports / "evaluation.md").write_text(report.render(merged, methods.block(merged, args.reports)))
        log.info("wrote %s and evaluation.md", json_path)

    for dataset in datasets:
        outcome, qualities, faces = evaluate_one(runtime, dataset, args, settings)
        record(dataset, outcome, qualities)
        if dataset.name in args.pose:
            turned = turned_subset(dataset, faces)
            outcome, qualities, _ = evaluate_one(runtime, turned, args, settings)
            record(turned, outcome, qualities)
    runtime.shutdown()
    return 0
