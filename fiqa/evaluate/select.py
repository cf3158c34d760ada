"""``python -m fiqa select-default``: the rule that picks the served default, applied to a validation report.

The rule, written down before any benchmark figure of the run is read (issue 14), so that LFW, ORL, Yale and the
pose sets are reported once, after the choice, and never steer it:

1. Eligible: quality models that give a score (not ``maps_only``) and run one network pass per face costing at most
   1/20 of the multiply-adds of the analytic ``diffiqa`` scorer (ten passes of ``fr_feature``), counted from each
   ONNX graph.
2. Measure: on ``celeba-val`` (the CelebA subset's validation identities, never trained on; every comparison among
   their photos), pAUC@0.2 at FMR 1e-3 under the fixed threshold, for every face-recognition model that made none
   of the model's labels (the cross-recognition-model and independent settings).
3. The default is the eligible model with the lowest mean of those pAUCs.

Checkpoints are chosen inside each training run by its own validation (CelebA validation identities too).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper

from fiqa.evaluate.report import load
from service.quality.diffiqa import DifFIQAPerturbation
from service.registry import Registry

REPO = Path(__file__).resolve().parents[2]
FMR = "0.001"
METRIC = "pauc_0.2"
COST_SHARE = 1 / 20


def onnx_multiply_adds(path: Path) -> int:
    """Multiply-adds of one face through every Conv, ConvTranspose, MatMul and Gemm of an ONNX graph: counts what
    runs, products written into the graph (an in-graph resample as matrices) included. Shapes are read by running
    the graph once on a zero input, since shape inference cannot follow shapes computed at run time."""
    import onnxruntime as ort

    model = onnx.load(str(path))
    known = {output.name for output in model.graph.output}
    for node in model.graph.node:
        model.graph.output.extend(helper.make_empty_tensor_value_info(o) for o in node.output if o not in known)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {
        i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], dtype=np.float32)
        for i in session.get_inputs()
    }
    names = [o.name for o in session.get_outputs()]
    shapes = {name: list(value.shape) for name, value in zip(names, session.run(None, feed), strict=True)}
    shapes.update({i.name: list(feed[i.name].shape) for i in session.get_inputs()})
    shapes.update({init.name: list(init.dims) for init in model.graph.initializer})
    total = 0
    for node in model.graph.node:
        if node.op_type in ("Conv", "ConvTranspose"):
            weight = shapes[node.input[1]]  # (out, in/groups, kh, kw); transposed: (in, out/groups, kh, kw)
            side = node.output[0] if node.op_type == "Conv" else node.input[0]
            total += int(np.prod(shapes[side])) * int(np.prod(weight[1:]))
        elif node.op_type in ("MatMul", "Gemm"):
            left = shapes[node.input[0]]
            transposed = node.op_type == "Gemm" and any(a.name == "transA" and a.i for a in node.attribute)
            total += int(np.prod(shapes[node.output[0]])) * (left[-2] if transposed else left[-1])
    return total


def candidates(report: dict[str, Any], registry: Registry, dataset: str) -> list[dict[str, Any]]:
    """Every quality model in the validation report with its cost and its cross-model pAUCs."""
    fr_feature = onnx_multiply_adds(registry.file_of("fr_feature"))
    passes = DifFIQAPerturbation(registry["diffiqa"], registry).copies  # the crop, its mirror, n noisy copies of each
    budget = COST_SHARE * passes * fr_feature
    rows = []
    for name, card in registry.cards.items():
        if card.kind != "quality":
            continue
        single = bool(card.file) and not card.uses
        cost = onnx_multiply_adds(registry.file_of(name)) if single else passes * fr_feature
        areas = {}
        for recognition, fr in report["datasets"][dataset]["recognition"].items():
            entry = fr["quality"].get(name)
            if not entry or entry["setting"] == "same-recognition-model":
                continue
            value = entry.get("fixed", {}).get(FMR, {}).get(METRIC, {}).get("value")
            if value is not None:
                areas[recognition] = value
        rows.append(
            {
                "model": name,
                "multiply_adds": cost,
                "share_of_diffiqa": cost / (passes * fr_feature),
                "eligible": single and cost <= budget and not card.maps_only,  # a maps-only model gives no score
                "pauc": areas,
                "mean_pauc": float(np.mean(list(areas.values()))) if areas else None,
            }
        )
    return rows


def choose(rows: list[dict[str, Any]]) -> str | None:
    eligible = [r for r in rows if r["eligible"] and r["mean_pauc"] is not None]
    return min(eligible, key=lambda r: r["mean_pauc"])["model"] if eligible else None


def render(selection: dict[str, Any]) -> str:
    out = [
        "# Choice of the served default (validation only)",
        "",
        f"Generated by `python -m fiqa select-default` from `{selection['report']}` "
        f"(dataset `{selection['dataset']}`).",
        "",
        (__doc__ or "").split("\n\n", 1)[1].split("\n\nCheckpoints")[0].strip(),
        "",
        "| model | multiply-adds per face | share of `diffiqa` | eligible | "
        + " | ".join(f"pAUC@0.2 `{r}`" for r in selection["recognition"])
        + " | mean |",
        "|---|---|---|---|" + "---|" * len(selection["recognition"]) + "---|",
    ]
    for row in sorted(selection["rows"], key=lambda r: (r["mean_pauc"] is None, r["mean_pauc"] or 0)):
        cells = [f"{row['pauc'][r]:.3f}" if r in row["pauc"] else "—" for r in selection["recognition"]]
        mean = "n/a" if row["mean_pauc"] is None else f"{row['mean_pauc']:.3f}"
        mark = " **(chosen)**" if row["model"] == selection["chosen"] else ""
        out.append(
            f"| `{row['model']}`{mark} | {row['multiply_adds'] / 1e6:,.1f} M | {row['share_of_diffiqa']:.3f} | "
            f"{'yes' if row['eligible'] else 'no'} | " + " | ".join(cells) + f" | {mean} |"
        )
    out += ["", f"Chosen: `{selection['chosen']}`.", ""]
    return "\n".join(out)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report", type=Path, default=REPO / "reports" / "validation" / "evaluation.json")
    parser.add_argument("--dataset", default="celeba-val")


def main(args: argparse.Namespace) -> int:
    report = load(args.report)
    if args.dataset not in report["datasets"]:
        raise SystemExit(f"{args.report}: no dataset {args.dataset!r}; run python -m fiqa evaluate on it first")
    rows = candidates(report, Registry(REPO / "models"), args.dataset)
    recognition = sorted({r for row in rows for r in row["pauc"]})
    shown = args.report.relative_to(REPO) if args.report.is_relative_to(REPO) else args.report
    selection = {
        "report": str(shown),
        "dataset": args.dataset,
        "recognition": recognition,
        "rows": rows,
        "chosen": choose(rows),
    }
    out = args.report.parent
    (out / "selection.json").write_text(json.dumps(selection, indent=1) + "\n")
    (out / "selection.md").write_text(render(selection))
    print(render(selection))
    return 0
