"""``python -m fiqa fit-mapping``: a quality card's raw -> 0..100 mapping, fitted on the CelebA validation split.

The rule every trained regressor's mapping follows (``publish-regressor``), for any served quality model: raw
scores, through the gateway's own method, of the identity-disjoint CelebA validation photos and of their degraded
copies; ``raw_low`` = 5th percentile on the degraded copies, ``raw_high`` = 99th percentile on the photos, linear
between, clipped. Never fitted on a benchmark (LFW, ORL, Yale). Writes ``reports/validation/mapping-<model>.json``
and the card's ``score_mapping`` from it (``tests/models`` fails when they disagree)::

    python -m fiqa fit-mapping --model diffiqa --data data/celeba_aligned

A new mapping moves every 0..100 score of the model: recalibrate its threshold after (``python -m fiqa calibrate``).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from fiqa.data.celeba import CelebaIndex
from fiqa.data.degrade import labelled_set
from fiqa.data.runtime import offline_runtime
from service.registry import update_card

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
LOW_PERCENTILE, HIGH_PERCENTILE = 5, 99


def fit(plain: np.ndarray, degraded: np.ndarray) -> tuple[float, float]:
    """(raw_low, raw_high): the degraded copies' 5th and the photos' 99th percentile, rounded as cards write them."""
    low = float(np.percentile(degraded, LOW_PERCENTILE))
    high = float(np.percentile(plain, HIGH_PERCENTILE))
    return round(low, 4), round(high, 4)


def fitted_on(photos: int, degraded: int) -> str:
    """The card's words for a mapping fitted by ``fit`` on the CelebA validation split."""
    return (
        f"CelebA identity-disjoint validation split ({photos} photos, {degraded} degraded copies): raw_low = "
        f"{LOW_PERCENTILE}th percentile on the degraded copies, raw_high = {HIGH_PERCENTILE}th percentile on the "
        "photos; linear, clipped to 0..100. Not fitted on LFW."
    )


def card_mapping(report: dict[str, Any]) -> dict[str, Any]:
    """The card's ``score_mapping`` entries from a ``fit-mapping`` report."""
    return {
        "kind": "linear",
        "raw_low": report["raw_low"],
        "raw_high": report["raw_high"],
        "fitted_on": fitted_on(report["val_photos"], report["val_degraded"]),
    }


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a quality card served by the gateway")
    parser.add_argument("--data", type=Path, default=Path("data/celeba_aligned"), help="prepare-celeba output")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="default: reports/validation/mapping-<model>.json")


def main(args: argparse.Namespace) -> int:
    """Run the command (``python -m fiqa`` parses its arguments with ``configure``)."""
    runtime = offline_runtime(ort_intra_op_threads=args.threads, warmup=False)
    index = CelebaIndex.load(args.data / "index.npz")
    crops, source, degraded = labelled_set(args.data)
    val = index.split[source] == "val"
    log.info("%s: scoring %d CelebA validation crops (photos and degraded copies)", args.model, val.sum())
    raw = runtime.score_crops(args.model, crops[val])
    runtime.shutdown()
    plain, worse = raw[~degraded[val]], raw[degraded[val]]
    low, high = fit(plain, worse)
    report = {
        "model": args.model,
        "card_parameters": runtime.registry[args.model].parameters,
        "val_photos": len(plain),
        "val_degraded": len(worse),
        "raw_low": low,
        "raw_high": high,
        "photos_median": round(float(np.median(plain)), 4),
        "degraded_median": round(float(np.median(worse)), 4),
    }
    out = args.out or REPO / "reports" / "validation" / f"mapping-{args.model}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    update_card(runtime.registry.models_dir / args.model / "card.yaml", "score_mapping", card_mapping(report))
    print(json.dumps(report, indent=2))
    return 0
