"""``python -m fiqa methods-table``: the evaluation report's "Methods as published" table (issue 17).

One row per variant of each paper we implement: the method as published, the paper's own ablations, and what we
serve; what each does, which part of its paper it follows or drops, the paper's own finding (cited by table, in
words), the paper's figure where ``published.json`` quotes one (marked as quoted, never as measured), and our
measured pAUC with its paired interval and verdict, read from the JSON reports only, with the set it is from. A
variant we have not run says why. The block between the markers below is written by ``report.render`` (so
``evaluate`` and ``calibrate`` keep it) and rewritten alone by this command (after ``compare-diffiqa``, without
re-running the evaluation), which also writes each quality model's README block (its papers' rows, so a card
states what of its paper it follows with figures from the JSON, never typed); ``tests/fiqa/evaluate/test_methods.py``
fails when a committed block differs.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fiqa.evaluate.card_metrics import interval, verdict
from fiqa.evaluate.summary import replaced

REPO = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- methods:begin -->", "<!-- methods:end -->"
MODEL_BEGIN, MODEL_END = "<!-- paper:begin -->", "<!-- paper:end -->"  # in each model's README
PUBLISHED = Path(__file__).with_name("published.json")
COMPARISON = Path("validation") / "diffiqa_ddpm.json"  # beside the benchmark report, written by compare-diffiqa
FMR, UPPER = "0.001", "0.3"  # the papers' ablation tables (DifFIQA Table 4, MR-FIQA) use pAUC@0.3 at FMR 1e-3
DATASET = "lfw"  # the benchmark rows' set (the comparison rows name theirs: celeba-val)
COLUMNS = ("paper", "variant", "what it does", "follows / drops", "paper's finding", "quoted from the paper", "ours")


@dataclass(frozen=True)
class Row:
    """One variant. ``source`` says which JSON feeds ``ours``: ``comparison`` (``compare-diffiqa``'s
    ``reports/validation/diffiqa_ddpm.json``), ``evaluation`` (``reports/evaluation.json``, set ``DATASET``) or
    ``None`` (not measured here: ``why_not``). ``does`` may name fields of the comparison JSON, e.g. ``{timestep}``,
    so its figures come from the run."""

    paper: str
    variant: str
    does: str
    follows: str
    finding: str
    quoted: str | None = None
    source: str | None = None
    name: str = ""
    references: tuple[str, ...] = ()
    why_not: str = ""


ROWS: tuple[Row, ...] = (
    Row(
        "DifFIQA",
        "DifFIQA (complete) = `diffiqa_ddpm`",
        "forward noising and DDPM reconstruction ({backward}) of x and its flip, {repeats} noisy copies each at "
        "t = {timestep}, Eq. 7",
        "follows Eq. 7, the flip and both diffusion passes; drops the paper's DDPM (ours: a {model[size]} px "
        "U-Net, {model[parameters]:,} parameters, {model[minutes]} min of CPU training on the eps loss, without the "
        "paper's degradations, Eq. 6, or x0 target, Eq. 5), its t and its number of copies",
        "§4.3, Table 4: the complete method has the lowest mean pAUC of the four variants",
        "diffiqa_complete",
        "comparison",
        "diffiqa_ddpm",
        ("diffiqa",),
    ),
    Row(
        "DifFIQA",
        "ablation A1: w/o image flipping",
        "Eq. 7 without the flipped image",
        "the paper's ablation",
        "§4.3, Table 4: worse on CPLFW (cross-pose), slightly better on CALFW and XQLFW, worse on average",
        "diffiqa_a1",
        why_not="`compare-diffiqa` runs no variant without the flip",
    ),
    Row(
        "DifFIQA",
        "ablation A2: w/o forward pass = `diffiqa_ddpm_backward_only`",
        "Eq. 7 over the flip and the DDPM reconstructions only, without the noisy copies' embeddings",
        "the paper's ablation, with our DDPM",
        "§4.3, Table 4: considerable drops on LFW and CPLFW, worse on average than the complete method; 'both "
        "(forward and backward) processes are important'",
        "diffiqa_a2",
        "comparison",
        "diffiqa_ddpm_backward_only",
        ("diffiqa_ddpm", "diffiqa"),
    ),
    Row(
        "DifFIQA",
        "ablation A3: more noise (t = 20)",
        "the complete method with more forward steps",
        "the paper's ablation",
        "§4.3, Table 4: the worst mean pAUC of the four; less noise (the complete method's smaller t) is better",
        "diffiqa_a3",
        why_not="`compare-diffiqa` ran one timestep; each other t is a new DDPM scoring run (CPU hours)",
    ),
    Row(
        "DifFIQA",
        "ours: `diffiqa_ddpm_detail`",
        "the complete method with detail-kept reconstructions (the 112 px crop plus the change the backward pass "
        "made at {model[size]} px)",
        "follows Eq. 7 and both passes; our workaround for the small DDPM's blurred reconstructions",
        "none (the paper publishes no such variant)",
        source="comparison",
        name="diffiqa_ddpm_detail",
        references=("diffiqa",),
    ),
    Row(
        "DifFIQA",
        "ours: `diffiqa` (served; the reference of the paired differences)",
        "Eq. 7 over the flip and forward-noised copies of both (the card's n and t), no backward pass",
        "follows Eq. 7, the flip and the forward pass; drops the backward pass (its DDPM)",
        "none: not one of the paper's variants (its A2 drops the forward pass, not the backward one)",
        source="evaluation",
        name="diffiqa",
        references=("det_confidence",),
    ),
    Row(
        "DifFIQA(R)",
        "DifFIQA(R) = `diffiqa_r_large`",
        "the FR network itself (`fr_feature`) + regression head, fine-tuned on DifFIQA labels; one pass",
        "follows §3.6 (FR model + head, labels in [0, 1]); drops the paper's labels (ours: `diffiqa`, no backward "
        "pass), its CosFace ResNet100 and its two million VGGFace2 labels (ours: CelebA crops)",
        "§4.2, Tables 2 and 5: close to DifFIQA, 'the distilled version has a slight edge'; Table 3: about three "
        "orders of magnitude faster",
        "diffiqa_r",
        "evaluation",
        "diffiqa_r_large",
        ("diffiqa",),
    ),
    Row(
        "DifFIQA(R)",
        "ours: `diffiqa_r64`",
        "`diffiqa_r_large`'s network reading its input at 64 px, fine-tuned on its predictions",
        "a further distillation the paper does not publish",
        "none (not in the paper)",
        source="evaluation",
        name="diffiqa_r64",
        references=("diffiqa",),
    ),
    Row(
        "DifFIQA(R)",
        "ours: `diffiqa_r`",
        "MobileFaceNet-XS (LRFR-distilled) + head on `diffiqa_r_large`'s predictions",
        "a further distillation the paper does not publish",
        "none (not in the paper)",
        source="evaluation",
        name="diffiqa_r",
        references=("diffiqa",),
    ),
    Row(
        "ViT-FIQA",
        "ViT-FIQA = `vitfiqa`",
        "ViT with a learnable quality token; patch tokens learn FR with a margin loss, the token regresses utility",
        "follows the quality token and the two heads; drops the FR-scale ViT (ours: ViT-tiny trained on CPU) and "
        "the utility its own FR branch defines (ours: CR-FIQA's certainty ratio from `fr_feature`)",
        "the official README we hold states no ablation, only 'consistently achieves top-tier performance'",
        source="evaluation",
        name="vitfiqa",
        references=("diffiqa", "det_confidence"),
    ),
    Row(
        "IFQA",
        "IFQA (per-pixel D + FPRS + face mask) = `ifqa`",
        "U-Net discriminator scoring every pixel, trained against a restoration generator with FPRS",
        "follows the per-pixel discriminator, FPRS and the mask-restricted real label; drops the input size "
        "(ours: 64 px), the parsing mask (ours: an ellipse from the landmarks) and VGG (perceptual loss and "
        "backbone); ours is measured on recognition utility, not on the paper's human judgement",
        "§4.4, Table 3: the complete model correlates best with human judgement",
        "ifqa_complete",
        "evaluation",
        "ifqa",
        ("diffiqa",),
    ),
    Row(
        "IFQA",
        "ablations: single-output D, per-pixel D without FPRS, + CutMix, without the face mask",
        "the paper's Table 3 variants",
        "the paper's ablations",
        "§4.4, Table 3: without its modules a single-output D is closer to human judgement than a per-pixel one; "
        "FPRS beats CutMix; the face mask adds more",
        "ifqa_ablations",
        why_not="the paper's measure is correlation with human judgement, for which we hold no labels; each "
        "variant is a new training run",
    ),
    Row(
        "MR-FIQA",
        "MR-FIQA labels (lambda = 0.5) = `mrfiqa_r`",
        "regressor on Q = minmax[(f_r + lambda s_d) / (1 - v_l)] of CelebA crops and degraded copies",
        "follows Eq. 1 with the paper's lambda, f_r and s_d; drops v_l (no BLIP: v_l = 0) and SynFIQA (ours: "
        "real CelebA, blur and down-sampling only)",
        "supplement Table 2: lambda = 0.5 gives the lowest mean pAUC of the three; Table 5: its labels beat "
        "CR-FIQA's, SDD-FIQA's and FaceNet's on average",
        "mrfiqa_complete",
        "evaluation",
        "mrfiqa_r",
        ("diffiqa",),
    ),
    Row(
        "MR-FIQA",
        "ablation: lambda = 0.1 or 0.3",
        "the same labels with a different weight on s_d",
        "the paper's ablation",
        "supplement Table 2: both give a higher mean pAUC than lambda = 0.5",
        "mrfiqa_lambda",
        why_not="one labelling and training run per lambda (CPU hours); not run",
    ),
    Row(
        "LRFR",
        "multi-resolution augmentation + LogExp (p = 1): the backbone of `diffiqa_r` and `mrfiqa_r`",
        "backbone distilled from `fr_feature` on low-resolution copies with the LogExp HR/LR loss",
        "follows the augmentation at the paper's resolutions and ratio, and LogExp; drops the ResNet34 trained on "
        "CASIA-WebFace (ours: MobileFaceNet-XS distilled on CelebA)",
        "Table 4: augmentation + LogExp raises low-resolution accuracy (XQLFW, SCface) with little loss on LFW",
        "lrfr_complete",
        why_not="the paper measures recognition accuracy at low resolution, which we do not; no backbone without "
        "the augmentation or LogExp was trained",
    ),
)


# served or compared model -> the papers (ROWS' ``paper``) it implements: its README carries their rows
MODELS: dict[str, tuple[str, ...]] = {
    "diffiqa": ("DifFIQA",),
    "diffiqa_ddpm": ("DifFIQA",),
    "diffiqa_r_large": ("DifFIQA(R)",),
    "diffiqa_r64": ("DifFIQA(R)",),
    "diffiqa_r": ("DifFIQA(R)", "LRFR"),
    "mrfiqa_r": ("MR-FIQA", "LRFR"),
    "vitfiqa": ("ViT-FIQA",),
    "ifqa": ("IFQA",),
}


def _areas(row: Row, evaluation: dict[str, Any], comparison: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """Per FR model: (setting, pAUC entry, {reference: paired entry}) of the row's quality name, from its JSON."""
    out: dict[str, tuple[Any, ...]] = {}
    if row.source == "comparison":
        for recognition, fr in comparison["recognition"].items():
            entry = fr["quality"].get(row.name)
            if entry and entry.get(f"pauc_{UPPER}"):
                paired = {r: entry.get(f"pauc_{UPPER}_minus_{r}") for r in row.references}
                out[recognition] = (entry["setting"], entry[f"pauc_{UPPER}"], paired)
    elif row.source == "evaluation":
        for recognition, fr in evaluation.get("datasets", {}).get(DATASET, {}).get("recognition", {}).items():
            entry = fr["quality"].get(row.name)
            fixed = (entry or {}).get("fixed", {}).get(FMR, {})
            if fixed.get(f"pauc_{UPPER}", {}).get("value") is not None:
                paired = {r: fixed.get(f"vs_{r}", {}).get(f"pauc_{UPPER}") for r in row.references}
                out[recognition] = (entry["setting"], fixed[f"pauc_{UPPER}"], paired)
    return out


def _ours(row: Row, evaluation: dict[str, Any], comparison: dict[str, Any]) -> str:
    """Our measured figures with their set, or why there are none."""
    if row.source is None:
        return f"not measured here: {row.why_not}"
    dataset = comparison["dataset"] if row.source == "comparison" else DATASET
    areas = _areas(row, evaluation, comparison)
    if not areas:
        return f"not measured here: `{row.name}` has no pAUC@{UPPER} on {dataset} in the JSON"
    parts = []
    for recognition, (setting, area, paired) in areas.items():
        tied = " (its labels' FR model)" if setting == "same-recognition-model" else ""
        text = f"`{recognition}`{tied}: {interval(area)}"
        for reference, entry in paired.items():
            if entry and entry.get("value") is not None:
                text += f", minus `{reference}` {interval(entry, True)} {verdict(entry)}"
        parts.append(text)
    return f"**{dataset}**: " + "; ".join(parts)


def _quoted(row: Row, published: dict[str, Any]) -> str:
    figure = published["figures"][row.quoted] if row.quoted else None
    if not figure:
        return "—"
    return f"quoted, not measured: {figure['value']} ({figure['where']}; {figure['metric']})"


def _table(
    rows: list[Row], evaluation: dict[str, Any], comparison: dict[str, Any], published: dict[str, Any]
) -> list[str]:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = [
            row.paper,
            row.variant,
            row.does.format(**comparison),
            row.follows.format(**comparison),
            row.finding,
            _quoted(row, published),
            _ours(row, evaluation, comparison),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render(evaluation: dict[str, Any], comparison: dict[str, Any], published: dict[str, Any]) -> str:
    """The report's marked block: how to read the table, and the table."""
    lines = [
        BEGIN,
        "",
        "## Methods as published",
        "",
        "Each paper we implement, one row per variant: the method as published, the paper's own ablations, and "
        "what we serve. *Paper's finding* is the paper's own result in words, cited by section and table; "
        "*quoted* figures are the paper's, copied from it with their table (`fiqa/evaluate/published.json`), on "
        "its datasets and FR models, never measured here and not comparable with ours. *Ours* is "
        f"pAUC@{UPPER} at FMR 1e-3 (the papers' ablation metric; fixed threshold; lower is better) with its "
        "95 % identity-bootstrap interval per FR model, and paired differences on the same replicates: "
        "*significant* only when the interval excludes 0. The set is named in each cell: **celeba-val** "
        f"(validation identities, {comparison['faces']} faces; `{comparison['command']}`, "
        "[`validation/diffiqa_ddpm.md`](validation/diffiqa_ddpm.md)) and **lfw** (this report) are different "
        "sets: compare figures only within one. As the paper does, the ablation is paired with the complete "
        "method (`diffiqa_ddpm`); every variant is also paired with the served `diffiqa`. Written by "
        "`python -m fiqa methods-table`; each model's README "
        "carries its papers' rows.",
        "",
        *_table(list(ROWS), evaluation, comparison, published),
    ]
    return "\n".join([*lines, "", END])


def render_model(name: str, evaluation: dict[str, Any], comparison: dict[str, Any], published: dict[str, Any]) -> str:
    """A model README's marked block: the rows of the papers the model implements."""
    papers = MODELS[name]
    lines = [
        MODEL_BEGIN,
        "## The paper: what this model follows and drops",
        "",
        f"The rows of {' and '.join(papers)} in the evaluation report's [Methods as published]"
        "(../../reports/evaluation.md#methods-as-published) table, which says how to read them: quoted figures are "
        f"the paper's own, never measured here; ours are pAUC@{UPPER} at FMR 1e-3 (fixed threshold, lower is "
        "better) on the set each names, a paired difference significant only when its interval excludes 0. "
        "Written by `python -m fiqa methods-table`.",
        "",
        *_table([row for row in ROWS if row.paper in papers], evaluation, comparison, published),
    ]
    return "\n".join([*lines, MODEL_END])


def _inputs(reports: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(the DifFIQA comparison, the quoted figures), or None without the comparison beside the report."""
    path = reports / COMPARISON
    if not path.is_file():
        return None
    return json.loads(path.read_text()), json.loads(PUBLISHED.read_text())


def block(evaluation: dict[str, Any], reports: Path) -> str:
    """The block for the report in ``reports``: "" without the validation comparison beside it (the table belongs
    to the benchmark report, not to a validation or test one)."""
    inputs = _inputs(reports)
    return render(evaluation, *inputs) if inputs else ""


def model_block(name: str, reports: Path = REPO / "reports") -> str:
    """The README block of model ``name`` from the JSON reports in ``reports`` ("" for a model of no paper in
    ``MODELS``, or without the comparison)."""
    inputs = _inputs(reports)
    if name not in MODELS or not inputs:
        return ""
    return render_model(name, json.loads((reports / "evaluation.json").read_text()), *inputs)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reports", type=Path, default=REPO / "reports", help="holds evaluation.json/.md and " + str(COMPARISON)
    )
    parser.add_argument("--models-dir", type=Path, default=REPO / "models", help="<name>/README.md per model")


def main(args: argparse.Namespace) -> int:
    path = args.reports / "evaluation.md"
    inputs = _inputs(args.reports)
    if inputs is None:
        print(f"no {args.reports / COMPARISON}: run `python -m fiqa compare-diffiqa` first")
        return 1
    evaluation = json.loads((args.reports / "evaluation.json").read_text())
    path.write_text(replaced(path.read_text(), render(evaluation, *inputs), BEGIN, END))
    print(f"wrote the methods-as-published block of {path}")
    for name in MODELS:
        readme = args.models_dir / name / "README.md"
        if readme.is_file() and MODEL_BEGIN in (old := readme.read_text()):
            readme.write_text(replaced(old, render_model(name, evaluation, *inputs), MODEL_BEGIN, MODEL_END))
            print(f"wrote the paper block of {readme}")
    return 0
