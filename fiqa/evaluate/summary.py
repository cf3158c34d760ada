"""``python -m fiqa readme-summary``: the README's evaluation tables, generated from ``reports/evaluation.json``.

The block between the README's ``<!-- evaluation:begin -->`` and ``<!-- evaluation:end -->`` markers is written by
this command only (``tests/test_readme.py`` fails when it differs from what the reports say), so the README quotes
no figure the evaluation does not hold, and each comparison says whether its paired interval excludes 0.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from fiqa.evaluate.analysis import REFERENCES
from fiqa.evaluate.card_metrics import interval, verdict
from service.settings import get_settings

REPO = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- evaluation:begin -->", "<!-- evaluation:end -->"
FMR, UPPER = "0.001", "0.2"
MARK = {"lower (better), significant": "✔", "higher (worse), significant": "✘", "not significant": "≈"}


def _cross(report: dict[str, Any], model: str) -> list[str]:
    """FR models that made none of ``model``'s labels, in report order."""
    out: list[str] = []
    for data in report["datasets"].values():
        for recognition, fr in data["recognition"].items():
            entry = fr["quality"].get(model)
            if entry and entry["setting"] != "same-recognition-model" and recognition not in out:
                out.append(recognition)
    return out


def _entry(report: dict[str, Any], dataset: str, recognition: str, name: str) -> dict[str, Any] | None:
    fr = report["datasets"][dataset]["recognition"].get(recognition, {})
    return fr.get("quality", {}).get(name, {}).get("fixed", {}).get(FMR)


def targets(report: dict[str, Any], model: str) -> list[str]:
    """The default against each reference, per dataset and cross-model FR model."""
    header = "| dataset | FR model | `" + model + "` pAUC@0.2 | " + " | ".join(f"minus `{r}`" for r in REFERENCES)
    lines = [header + " |", "|---|---|---|" + "---|" * len(REFERENCES)]
    for dataset in report["datasets"]:
        for recognition in _cross(report, model):
            entry = _entry(report, dataset, recognition, model)
            if not entry or entry[f"pauc_{UPPER}"].get("value") is None:
                continue
            cells = []
            for reference in REFERENCES:
                paired = entry.get(f"vs_{reference}", {}).get(f"pauc_{UPPER}")
                cells.append(
                    "—"
                    if not paired or paired.get("value") is None
                    else f"{interval(paired, True)} {MARK.get(verdict(paired), '')}"
                )
            lines.append(
                f"| {dataset} | {recognition} | {interval(entry[f'pauc_{UPPER}'])} | " + " | ".join(cells) + " |"
            )
    return lines


def measures(report: dict[str, Any], recognition: str) -> list[str]:
    """Every quality measure's pAUC@0.2 with one FR model, one column per dataset."""
    datasets = [d for d, data in report["datasets"].items() if recognition in data["recognition"]]
    names: list[str] = []
    for dataset in datasets:
        names += [n for n in report["datasets"][dataset]["recognition"][recognition]["quality"] if n not in names]
    lines = ["| measure | " + " | ".join(datasets) + " |", "|---|" + "---|" * len(datasets)]
    for name in names:
        cells = []
        for dataset in datasets:
            entry = _entry(report, dataset, recognition, name)
            value = (entry or {}).get(f"pauc_{UPPER}", {}).get("value")
            cells.append("—" if value is None else f"{value:.3f}")
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return lines


def render(report: dict[str, Any], selection: dict[str, Any] | None, model: str) -> str:
    out = [BEGIN, ""]
    if selection:
        out += [
            f"Default chosen by `python -m fiqa select-default` on `{selection['dataset']}` (validation only): "
            f"`{selection['chosen']}`; the rule and its table are in "
            "[`reports/validation/selection.md`](reports/validation/selection.md).",
            "",
        ]
    out += [
        f"The served default `{model}` against `diffiqa` and the free baselines, pAUC@0.2 of the EDC at FMR 1e-3 "
        "(fixed threshold; lower is better), with comparisons by every recognition model that made none of its "
        "labels; differences are paired over the same identity-bootstrap replicates, 95 % intervals "
        "(✔ significantly lower = better, ✘ significantly higher, ≈ not significant):",
        "",
        *targets(report, model),
    ]
    for recognition in _cross(report, model):
        out += ["", f"Every measure, comparisons by `{recognition}` (pAUC@0.2, FMR 1e-3, fixed threshold):", ""]
        out += measures(report, recognition)
    return "\n".join([*out, "", END])


def replaced(readme: str, block: str, begin: str = BEGIN, end: str = END) -> str:
    """``readme`` with its generated block (from the ``begin`` marker through the ``end`` one) replaced by ``block``."""
    start, stop = readme.index(begin), readme.index(end) + len(end)
    return readme[:start] + block + readme[stop:]


def current(repo: Path = REPO) -> str:
    """The block the reports in ``repo`` call for."""
    report = json.loads((repo / "reports" / "evaluation.json").read_text())
    path = repo / "reports" / "validation" / "selection.json"
    selection = json.loads(path.read_text()) if path.is_file() else None
    return render(report, selection, get_settings().default_models[0])


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--readme", type=Path, default=REPO / "README.md")


def main(args: argparse.Namespace) -> int:
    args.readme.write_text(replaced(args.readme.read_text(), current()))
    print(f"wrote the evaluation block of {args.readme}")
    return 0
