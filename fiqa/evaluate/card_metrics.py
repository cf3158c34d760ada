"""``python -m fiqa card-metrics``: every quality card's evaluation figures, written from ``evaluation.json``.

A card quotes, per benchmark dataset and face-recognition model, its pAUC@0.2 at FMR 1e-3 (fixed threshold) with
the bootstrap interval and its paired differences to ``diffiqa``, detector confidence and face size. The figures
are only ever written by this command (``tests/models`` fails when a card disagrees with the report), and the
lines of an earlier evaluation protocol are dropped, so a card never cites a figure the report no longer holds.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import yaml

from fiqa.evaluate.analysis import REFERENCES

REPO = Path(__file__).resolve().parents[2]
FMR = "0.001"
UPPER = "0.2"
PREFIX = "eval_"
# Card keys of earlier protocols (LFW View-2 protocol pairs), replaced by this command's.
STALE = re.compile(r"^lfw_view2_pauc_")


def interval(entry: dict[str, Any], signed: bool = False) -> str:
    sign = "+" if signed else ""
    text = f"{entry['value']:{sign}.3f}"
    if entry.get("low") is not None:
        text += f" [{entry['low']:{sign}.3f}, {entry['high']:{sign}.3f}]"
    return text


def verdict(entry: dict[str, Any]) -> str:
    """A paired difference in words: significant only when its interval excludes 0."""
    if entry.get("low") is None:
        return "no interval"
    if entry["high"] < 0:
        return "lower (better), significant"
    if entry["low"] > 0:
        return "higher (worse), significant"
    return "not significant"


def metrics_for(report: dict[str, Any], name: str, datasets: list[str] | None = None) -> dict[str, str]:
    """``eval_<dataset>_pauc0.2_fmr1e-3_<fr>`` lines for one quality measure, in report order."""
    out: dict[str, str] = {}
    for dataset, data in report.get("datasets", {}).items():
        if datasets is not None and dataset not in datasets:
            continue
        for recognition, fr in data.get("recognition", {}).items():
            entry = fr.get("quality", {}).get(name, {}).get("fixed", {}).get(FMR)
            if not entry or entry.get(f"pauc_{UPPER}", {}).get("value") is None:
                continue
            parts = [interval(entry[f"pauc_{UPPER}"])]
            for reference in REFERENCES:
                paired = entry.get(f"vs_{reference}", {}).get(f"pauc_{UPPER}")
                if paired and paired.get("value") is not None:
                    parts.append(f"minus {reference} {interval(paired, True)} ({verdict(paired)})")
            out[f"{PREFIX}{dataset}_pauc{UPPER}_fmr1e-3_{recognition}"] = "; ".join(parts)
    return out


def refreshed(card: dict[str, Any], report: dict[str, Any], datasets: list[str] | None) -> dict[str, Any]:
    """The card with its evaluation lines replaced by the report's."""
    kept = {k: v for k, v in (card.get("metrics") or {}).items() if not k.startswith(PREFIX) and not STALE.match(k)}
    return {**card, "metrics": {**kept, **metrics_for(report, card["name"], datasets)}}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report", type=Path, default=REPO / "reports" / "evaluation.json")
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--datasets", default=None, help="comma-separated (default: every dataset in the report)")


def main(args: argparse.Namespace) -> int:
    report = json.loads(args.report.read_text())
    datasets = args.datasets.split(",") if args.datasets else None
    for path in sorted(args.models_dir.glob("*/card.yaml")):
        card = yaml.safe_load(path.read_text())
        if card.get("kind") != "quality":
            continue
        new = refreshed(card, report, datasets)
        if new != card:
            path.write_text(yaml.safe_dump(new, sort_keys=False, width=118, allow_unicode=True))
            print(f"{path}: {sum(k.startswith(PREFIX) for k in new['metrics'])} evaluation lines")
    return 0
