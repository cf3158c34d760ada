"""``reports/evaluation.json`` (merged across runs, one entry per dataset) -> ``reports/evaluation.md``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fiqa.evaluate.analysis import ORACLE, REFERENCES

SETTING_MARK = {
    "cross-recognition-model": " ×",
    "same-recognition-model": " =",
    "independent": "",
    "uses the comparison outcomes": "",
}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {"datasets": {}, "calibration": {}}


def save(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, sort_keys=False) + "\n")


def _fmt(entry: dict[str, Any] | None, ci: bool = True) -> str:
    if not entry or entry.get("value") is None:
        return "n/a"
    text = f"{entry['value']:.3f}"
    if ci and entry.get("low") is not None:
        text += f" [{entry['low']:.3f}, {entry['high']:.3f}]"
    return text


def _quality_names(report: dict[str, Any], recognition: str) -> list[str]:
    names: list[str] = []
    for data in report["datasets"].values():
        for name in data["recognition"].get(recognition, {}).get("quality", {}):
            if name not in names:
                names.append(name)
    models = [n for n in names if n != ORACLE and not _is_baseline(report, recognition, n)]
    baselines = [n for n in names if n != ORACLE and n not in models]
    return models + baselines + ([ORACLE] if ORACLE in names else [])


def _is_baseline(report: dict[str, Any], recognition: str, name: str) -> bool:
    for data in report["datasets"].values():
        entry = data["recognition"].get(recognition, {}).get("quality", {}).get(name)
        if entry:
            return entry["kind"] != "model"
    return True


def _recognitions(report: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for data in report["datasets"].values():
        out += [r for r in data["recognition"] if r not in out]
    return out


def _has_convention(report: dict[str, Any], recognition: str, convention: str) -> bool:
    return any(
        convention in entry
        for data in report["datasets"].values()
        for entry in data["recognition"].get(recognition, {}).get("quality", {}).values()
    )


def _table(report: dict[str, Any], recognition: str, convention: str, fmr: str, metric: str, ci: bool) -> list[str]:
    datasets = [d for d, data in report["datasets"].items() if recognition in data["recognition"]]
    lines = ["| quality measure | " + " | ".join(datasets) + " |", "|---|" + "---|" * len(datasets)]
    for name in _quality_names(report, recognition):
        cells = []
        mark = ""
        for dataset in datasets:
            entry = report["datasets"][dataset]["recognition"][recognition]["quality"].get(name, {})
            mark = SETTING_MARK.get(entry.get("setting", ""), "") or mark
            if not entry:
                cells.append("—")  # not evaluated on this dataset
                continue
            value = entry.get(convention, {}).get(fmr, {}).get(metric)
            cells.append(_fmt(value if isinstance(value, dict) else {"value": value}, ci))
        if name == ORACLE and convention != "fixed":
            continue
        lines.append(f"| {name}{mark} | " + " | ".join(cells) + " |")
    return lines


def _difference(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("value") is None:
        return "n/a"
    if entry.get("low") is None:
        return f"{entry['value']:+.3f}"
    return f"{entry['value']:+.3f} [{entry['low']:+.3f}, {entry['high']:+.3f}], lower in {entry['share_lower']:.0%}"


def _paired_table(
    report: dict[str, Any], recognition: str, metric: str, reference: str, fmr: str = "0.001"
) -> list[str]:
    """Each measure's area minus ``reference``'s on the same bootstrap replicates (fixed threshold)."""
    datasets = [d for d, data in report["datasets"].items() if recognition in data["recognition"]]
    lines = []
    for name in _quality_names(report, recognition):
        cells = []
        for dataset in datasets:
            entry = report["datasets"][dataset]["recognition"][recognition]["quality"].get(name, {})
            paired = entry.get("fixed", {}).get(fmr, {}).get(f"vs_{reference}")
            cells.append(_difference(paired[metric]) if paired and metric in paired else "—")
        if any(cell != "—" for cell in cells):
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if not lines:
        return []
    header = ["| quality measure | " + " | ".join(datasets) + " |", "|---|" + "---|" * len(datasets)]
    return [
        f"**{metric.replace('pauc_', 'pAUC@')} minus `{reference}`'s, paired bootstrap** (fixed threshold; the same "
        "replicates for both: 95 % interval of the difference, and the share of replicates where the measure's area "
        "is the lower, i.e. better):",
        "",
        *header,
        *lines,
        "",
    ]


def render(report: dict[str, Any], methods: str = "") -> str:
    """The markdown report; ``methods`` is the "Methods as published" block (``fiqa.evaluate.methods.block``),
    passed in so that re-rendering the benchmark report keeps it."""
    meta = report.get("meta", {})
    out = [
        "# Evaluation: face image quality vs face-recognition error",
        "",
        f"Generated by `python -m fiqa evaluate` ({meta.get('updated', '')}); numbers in "
        "[`evaluation.json`](evaluation.json). Reproduce with the commands at the end.",
        "",
        "## How to read this",
        "",
        "- **EDC**: FNMR at a fixed FMR (1e-2, 1e-3, 1e-4) against the fraction of comparisons discarded, lowest "
        "pair quality first; pair quality = min of the two samples' qualities; non-interpolated step curves "
        "(comparisons of equal pair quality are discarded together).",
        "- **pAUC@b** (DifFIQA): area under the EDC over [0, b], divided by b × FNMR at 0 discard, for b = 0.2 and "
        "0.3. **AUC@0.95**: the same over [0, 0.95], i.e. MR-FIQA supplement Eq. 2 with a = 0, b = 0.95 (DifFIQA's "
        "pAUC is the same formula with b = 0.2/0.3; its tables' magnitudes, ~0.9–1.1, show the division by b). "
        "1.0 = discarding by this quality did not lower FNMR; lower is better; the oracle row is the theoretical "
        "best (false non-matches discarded first).",
        "- **Threshold conventions**: `fixed` = ISO/IEC 29794-1 / Schlett et al.: the comparison threshold is set "
        "once from all non-mated comparisons and only mated comparisons are discarded (the discard fraction counts "
        "mated comparisons). `recomputed` = CR-FIQA's evaluation script: mated and non-mated pairs are discarded "
        "together by pair quality and the threshold is re-derived from the remaining non-mated pairs at each step "
        "(the discard fraction counts all pairs).",
        "- **Comparisons**: folder sets (ORL, Yale, CelebA validation) and `pairs-all` sets (the images LFW View-2's "
        "`pairs.txt` names) compare every image with every other: every mated pair, and every non-mated pair up to "
        "2,000,000, above that a seeded uniform sample of that many (stated per dataset below). So FMR 1e-3 and 1e-4 "
        "rest on thousands and hundreds of impostor scores, where the 3,000 protocol pairs of View-2 gave 3 and 0.",
        "- **Pose sets** (`-pose`): a dataset's comparisons in which at least one face is turned (yaw index ≥ 0.3 "
        "from the landmarks, see Pose below), mated and non-mated alike; the threshold is set on them.",
        "- Under `recomputed`, discarding also removes non-mated pairs, so with few non-mated pairs the threshold "
        "soon rests on the largest remaining ones: its curves jump and its intervals are wide. Decisions use "
        "`fixed`; runs over millions of comparisons compute `fixed` only (`--conventions`).",
        "- **Threshold at FMR a** over n non-mated scores: the (⌊a·n⌋+1)-th largest non-mated score; a comparison "
        "matches when its score is above it. When a·n < 1 the FMR is **below the resolution** of the data: the "
        "threshold is the largest non-mated score (FMR 0) and the numbers are marked unresolved.",
        "- **Bootstrap intervals** (95 %, percentile), "
        + (
            "`fixed`: **identities** resampled with replacement, each comparison weighted by how often its "
            "identities were drawn (one person's photos are all good or all poor, so pairs are not independent; "
            "resampling pairs gives intervals too narrow)"
            if meta.get("bootstrap_unit", "identity") == "identity"
            else "`fixed`: mated and non-mated pairs resampled with replacement"
        )
        + f", {meta.get('replicates', '?')} replicates; `recomputed`: pairs resampled, "
        f"{meta.get('recomputed_replicates', '?')} replicates. Thresholds are re-derived in each replicate and the "
        "same replicates serve every quality measure. Small datasets (Yale: 15 people, ORL: 40) give wide intervals.",
        "- **Paired differences** against `diffiqa` (the analytic scorer the single-pass models are judged against), "
        "`det_confidence` and `face_size` (the free baselines a learned measure must beat), at FMR 1e-3: on each "
        "replicate, a measure's area minus the reference's, under the fixed threshold; the 95 % interval of that "
        "difference and the share of replicates where the measure is lower (better). A difference is significant "
        "when its interval excludes 0; two intervals can overlap while the paired one does not.",
        "- **Quality measures**: every quality model card the gateway serves (scored by the gateway's own method "
        "objects and backend; the EDC uses the raw score, whose order the 0..100 mapping keeps except where it "
        "clips), and baselines: `random` (seeded uniform), `face_size` (inter-eye distance in frame pixels), "
        "`det_confidence` (CenterFace score), `sharpness` (variance of the Laplacian of the grey aligned crop).",
        "- **Cross-recognition-model setting**: marks in the tables: `=` the quality model is tied to the FR model "
        "making the comparisons (e.g. `diffiqa` uses `fr_feature`); `×` evaluated with a different FR model "
        "(`diffiqa` under `dlib`): the cross-recognition-model setting the MR-FIQA supplement asks for.",
        "- **Failures to acquire** (no face detected): those images' comparisons are left out (counts below).",
        "- **n/a**: FNMR is 0 already at 0 discard (e.g. the clean Yale set with `fr_feature`), so the normalised "
        "area is undefined: there is no error for quality to remove. **—**: not evaluated on that dataset.",
        "- A trained quality model is evaluated as soon as its card and ONNX file are in `models/`; it can name the "
        "FR model its labels came from as `source: {recognition_model: <name>}` to be marked in the tables. "
        + (f"Skipped in this run (ONNX file missing): {', '.join(meta['skipped'])}." if meta.get("skipped") else ""),
        "",
        "## Datasets",
        "",
        "| dataset | protocol | images | identities | faces acquired | failed to acquire | comparisons used "
        "(mated / non-mated, per FR model) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, data in report["datasets"].items():
        s = data["summary"]
        used = "; ".join(f"{r}: {v['mated']:,} / {v['non_mated']:,}" for r, v in data["recognition"].items())
        out.append(
            f"| {name} | {s['protocol']} | {s['samples']:,} | {s['identities']:,} | {s['faces_acquired']:,} | "
            f"{s['failures_to_acquire']:,} | {used} |"
        )
    out += ["", "FNMR at 0 discard (fixed threshold) per FMR; `*` = FMR below the data's resolution:", ""]
    fmrs = meta.get("fmrs", ["0.01", "0.001", "0.0001"])
    out += [
        "| dataset | FR model | " + " | ".join(f"FNMR @ FMR {f}" for f in fmrs) + " |",
        "|---|---|" + "---|" * len(fmrs),
    ]
    for name, data in report["datasets"].items():
        for recognition, fr in data["recognition"].items():
            cells = []
            for fmr in fmrs:
                t = fr["thresholds"].get(fmr)
                cells.append("n/a" if not t else f"{t['fnmr_at_0_discard']:.4f}{'' if t['resolved'] else ' *'}")
            out.append(f"| {name} | {recognition} | " + " | ".join(cells) + " |")
    for recognition in _recognitions(report):
        out += ["", f"## pAUC at FMR = 1e-3, FR model `{recognition}`", ""]
        for upper in ("0.2", "0.3"):
            out += [f"**pAUC@{upper}, fixed threshold** (95 % bootstrap interval):", ""]
            out += [*_table(report, recognition, "fixed", "0.001", f"pauc_{upper}", True), ""]
        for reference in REFERENCES:
            for upper in ("0.2", "0.3"):
                out += _paired_table(report, recognition, f"pauc_{upper}", reference)
        recomputed = _has_convention(report, recognition, "recomputed")
        if recomputed:
            out += ["**pAUC@0.3, recomputed threshold** (CR-FIQA convention; 95 % bootstrap interval):", ""]
            out += [*_table(report, recognition, "recomputed", "0.001", "pauc_0.3", True), ""]
            out += ["**pAUC@0.2, recomputed threshold**:", ""]
            out += [*_table(report, recognition, "recomputed", "0.001", "pauc_0.2", True), ""]
        out += ["**AUC@0.95 (MR-FIQA Eq. 2), fixed threshold**:", ""]
        out += [*_table(report, recognition, "fixed", "0.001", "auc_0.95", False), ""]
        if recomputed:
            out += ["**AUC@0.95, recomputed threshold**:", ""]
            out += [*_table(report, recognition, "recomputed", "0.001", "auc_0.95", False), ""]
        for fmr in ("0.01", "0.0001"):
            out += [f"**pAUC@0.3 at FMR = {fmr}, fixed threshold** (interval):", ""]
            out += [*_table(report, recognition, "fixed", fmr, "pauc_0.3", True), ""]
    out += _degradations(report)
    out += _poses(report)
    out += _calibration(report)
    if methods:
        out += ["", methods]
    out += ["", "## Figures", ""]
    for figure in meta.get("figures", []):
        out.append(f"- [`{figure}`]({figure})")
    calibrations = [c["command"] for c in report.get("calibration", {}).values() if c.get("command")]
    out += ["", "## Reproduce", "", "```", *meta.get("commands", []), *calibrations, "```", ""]
    return "\n".join(out)


def _calibration(report: dict[str, Any]) -> list[str]:
    entries = report.get("calibration", {})
    out = ["", "## Calibrated decision thresholds (0..100 scale)", ""]
    if not entries:
        return [*out, "None calibrated yet (`python -m fiqa calibrate ...`)."]
    out += [
        "| model | target | dataset | threshold | 95 % interval | achieved | written to card | date |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, c in entries.items():
        out.append(
            f"| {c['model']} | {c['target']} | {c['dataset']} | {c['value']:.2f} | [{c['low']:.2f}, {c['high']:.2f}] "
            f"| {c['achieved']} | {'yes' if c.get('written') else 'no'} | {c['date']} |"
        )
        if c.get("held_out"):
            out.append(f"|  | held-out check ({key}) | {c['held_out']} |  |  |  |  |  |")
    out += [
        "",
        "The threshold is calibrated on the named dataset, so its achieved rate there is in-sample by "
        "construction; the held-out lines show the same threshold applied to other data. The EDC and pAUC numbers "
        "above do not depend on this threshold, so calibrating on LFW folds does not bias them; but any reject rate "
        "or FNMR quoted for those LFW folds at this threshold is in-sample.",
    ]
    return out


def _degradations(report: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for dataset, data in report["datasets"].items():
        table = data.get("by_degradation")
        if not table:
            continue
        measures = [k for k in next(iter(table.values())) if k not in ("images", "failed_to_acquire")]
        out += [
            "",
            f"## Response to synthetic degradations: {dataset}",
            "",
            "Median quality per degradation (models on the gateway's 0..100 scale, baselines raw); strength 1..3 "
            "(see `fiqa/evaluate/degrade.py`); images whose face was not detected are not scored.",
            "",
            "| degradation | images | not detected | " + " | ".join(measures) + " |",
            "|---|---|---|" + "---|" * len(measures),
        ]
        for tag, entry in table.items():
            cells = ["n/a" if entry[m] is None else f"{entry[m]:.3g}" for m in measures]
            out.append(f"| {tag} | {entry['images']} | {entry['failed_to_acquire']} | " + " | ".join(cells) + " |")
    return out


def _poses(report: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for dataset, data in report["datasets"].items():
        table = data.get("by_pose")
        if not table:
            continue
        measures = list(table["spearman_with_yaw"])
        share = f"{table['discard']:.0%}"
        out += [
            "",
            f"## Pose: {dataset}",
            "",
            "Yaw index = |nose offset from the eyes' midpoint along the eye axis| / inter-eye distance, from the "
            "detector's landmarks (0 frontal, ~0.5 strongly turned; `fiqa/evaluate/pose.py`). Per band: median "
            f"quality (models 0..100, baselines raw) / share of the band's faces among the {share} lowest-quality "
            f"faces (a measure blind to pose discards {share} of every band). Last row: Spearman of quality with "
            "the yaw index (negative = turned faces score lower).",
            "",
            "| yaw index | faces | " + " | ".join(measures) + " |",
            "|---|---|" + "---|" * len(measures),
        ]
        for band, entry in table["bands"].items():
            cells = [
                "n/a" if entry[m]["median"] is None else f"{entry[m]['median']:.3g} / {entry[m]['discarded']:.0%}"
                for m in measures
            ]
            out.append(f"| {band} | {entry['faces']} | " + " | ".join(cells) + " |")
        rho = table["spearman_with_yaw"]
        cells = ["n/a" if rho[m] is None else f"{rho[m]:+.2f}" for m in measures]
        out.append("| Spearman with yaw | | " + " | ".join(cells) + " |")
    return out
