"""``python -m fiqa compare-diffiqa``: DifFIQA with its diffusion model against the served ``diffiqa`` (no
backward pass) as quality labels, on the validation set only (CelebA validation identities, all comparisons).

Reproducible command (after ``train-ddpm`` and the validation evaluation, whose cached faces, embeddings and
``diffiqa`` scores it reads)::

    python -m fiqa compare-diffiqa --steps 2 --threads 1

Writes ``reports/validation/diffiqa_ddpm.json`` and ``.md``: Spearman correlations between the variants, and per
face-recognition model pAUC@0.2 and @0.3 at FMR 1e-3 (fixed threshold) with identity-bootstrap intervals and the
paired differences against ``diffiqa`` and against the complete method, ``diffiqa_ddpm``, as the paper compares its
ablations (significant only when the interval excludes 0). LFW, ORL and Yale are
never read here: the choice of labels is made on validation.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from fiqa.data.runtime import offline_runtime
from fiqa.diffusion.score import DiffusionScorer, variants
from fiqa.diffusion.train import load
from fiqa.evaluate import analysis
from fiqa.evaluate.acquire import acquire, faces_tag
from fiqa.evaluate.cache import Cache, file_digest, tag_of
from fiqa.evaluate.card_metrics import interval, verdict
from fiqa.evaluate.quality import QualityScores, baseline, model_scores, tied_recognition
from fiqa.evaluate.recognition import embeddings, recognizers
from fiqa.evaluate.run import parse_dataset
from fiqa.labels.diffiqa import analytic_scorer

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
SERVED = "diffiqa"
# quality names in the report, per variant of ``fiqa.diffusion.score.variants``
NAMES = {"full": "diffiqa_ddpm", "full_detail": "diffiqa_ddpm_detail", "backward_only": "diffiqa_ddpm_backward_only"}
# the paper's complete method: its ablations are compared with it, paired, as well as with the served scorer
COMPLETE = NAMES["full"]
PAIRED = (SERVED, COMPLETE)
FMR = 1e-3
UPPERS = (0.2, 0.3)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="celeba-val=data/celeba:celeba-val", metavar="NAME=PATH:LAYOUT")
    parser.add_argument("--model", type=Path, default=Path("models/diffiqa_ddpm/model.pt"))
    parser.add_argument(
        "--steps", type=int, default=None, help="deterministic DDIM steps from t to 0; default: t ancestral steps"
    )
    parser.add_argument("--cache", type=Path, default=REPO / "data" / "cache", help="the evaluation's cache (read)")
    parser.add_argument("--own-cache", type=Path, default=REPO / "data" / "ddpm" / "cache", help="cosines (written)")
    parser.add_argument("--fr", default="all", help="face-recognition models, comma-separated, or 'all'")
    parser.add_argument("--bootstrap", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reports", type=Path, default=REPO / "reports" / "validation")


def spearman(values: dict[str, np.ndarray]) -> dict[str, float]:
    """Rank correlation of every pair of variants over the faces all of them scored."""
    names = list(values)
    both = np.logical_and.reduce([np.isfinite(values[n]) for n in names])
    out = {}
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            out[f"{first} ~ {second}"] = float(spearmanr(values[first][both], values[second][both]).statistic)
    return out


def summarise(results: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """Per face-recognition model: each measure's pAUCs (FMR 1e-3, fixed) and its paired differences to diffiqa and
    to the complete method."""
    key = f"{FMR:g}"
    out: dict[str, Any] = {}
    for recognition, fr in results["recognition"].items():
        rows = {}
        for name in names:
            entry = fr["quality"][name].get("fixed", {}).get(key, {})
            row: dict[str, Any] = {"setting": fr["quality"][name]["setting"]}
            for upper in UPPERS:
                metric = f"pauc_{upper:g}"
                row[metric] = entry.get(metric)
                for reference in PAIRED:
                    paired = entry.get(f"vs_{reference}", {}).get(metric)
                    if paired is not None:
                        row[f"{metric}_minus_{reference}"] = paired | {"verdict": verdict(paired)}
            rows[name] = row
        out[recognition] = {"mated": fr["mated"], "non_mated": fr["non_mated"], "quality": rows}
    return out


def render(report: dict[str, Any]) -> str:
    """The markdown section, written from the JSON (no typed figures)."""
    facts = report["model"]
    lines = [
        "# DifFIQA with its diffusion model vs the served `diffiqa` (validation only)",
        "",
        f"Generated by `{report['command']}` on {report['updated']} from `{report['dataset']}` "
        f"({report['faces']} faces, all comparisons among them); {report['machine']}, {report['seconds']} s.",
        "",
        f"- `diffiqa_ddpm`: the full method (Eq. 7 over x^f, {report['repeats']} noisy copies of x and of x^f at "
        f"t = {report['timestep']}, and their DDPM reconstructions; backward: {report['backward']}).",
        "- `diffiqa_ddpm_detail`: the same with the reconstructions detail-kept (the 112 crop plus the resized "
        "change the backward process made at 64 pixels).",
        "- `diffiqa`: the served scorer, forward noising only (no backward pass), the same noisy copies.",
        "- `diffiqa_ddpm_backward_only`: x^f and the reconstructions only (the paper's ablation A2, without the "
        "forward pass's embeddings).",
        f"- DDPM: U-Net {facts['channels']} channels at {facts['size']}x{facts['size']} ({facts['parameters']:,} "
        f"parameters), {facts['steps']} steps of batch {facts['batch']} in {facts['minutes']} min on "
        f"{facts['threads']} CPU thread(s); held-out CelebA eps loss {facts['best']['val_loss']:.4f} "
        f"({facts['best']['weights']} weights, step {facts['best']['step']}).",
        "- Mean cosine to e_x: " + "; ".join(f"{k}: {v:.4f}" for k, v in report["mean_cosine"].items()) + ".",
        "",
        "## Spearman correlation between the variants",
        "",
        "| pair | Spearman |",
        "|---|---|",
    ]
    lines += [f"| {pair} | {value:.3f} |" for pair, value in report["spearman"].items()]
    for recognition, fr in report["recognition"].items():
        lines += [
            "",
            f"## {recognition}: pAUC at FMR 1e-3 (fixed threshold; {fr['mated']} mated, {fr['non_mated']} non-mated)",
            "",
            "| quality | setting | pAUC@0.2 | pAUC@0.3 | "
            + " | ".join(f"minus {reference} @0.2 | verdict" for reference in PAIRED)
            + " |",
            "|---|---|---|---|" + "---|---|" * len(PAIRED),
        ]
        for name, row in fr["quality"].items():
            cells = [
                name,
                row["setting"],
                *(interval(row[f"pauc_{u:g}"]) if row.get(f"pauc_{u:g}") else "n/a" for u in UPPERS),
            ]
            for reference in PAIRED:
                paired = row.get(f"pauc_0.2_minus_{reference}")
                reference_row = "(reference)" if name == reference else ""
                cells += [interval(paired, signed=True), paired["verdict"]] if paired else [reference_row, ""]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", report["conclusion"], ""]
    return "\n".join(lines)


def conclusion(summary: dict[str, Any]) -> str:
    """Sentences from the paired differences at pAUC@0.2: does each diffusion variant rank better than diffiqa?"""
    sentences = []
    for name in NAMES.values():
        verdicts = {
            recognition: fr["quality"][name].get(f"pauc_0.2_minus_{SERVED}", {}).get("verdict", "no interval")
            for recognition, fr in summary.items()
        }
        better = [r for r, v in verdicts.items() if v.startswith("lower")]
        worse = [r for r, v in verdicts.items() if v.startswith("higher")]
        if better and not worse:
            found = f"significantly better than diffiqa with {', '.join(better)}"
        elif worse and not better:
            found = f"significantly worse than diffiqa with {', '.join(worse)}"
        else:
            found = "not consistently different from diffiqa"
        detail = ", ".join(f"{r}: {v}" for r, v in verdicts.items())
        sentences.append(f"`{name}` ranks {found} at pAUC@0.2, FMR 1e-3 ({detail}).")
    return " ".join(sentences)


def main(args: argparse.Namespace) -> int:
    """Run the command (``python -m fiqa`` parses its arguments with ``configure``)."""
    torch.set_num_threads(args.threads)
    started = time.monotonic()
    runtime = offline_runtime(ort_intra_op_threads=args.threads, cpu_workers=1)
    dataset = parse_dataset(args.dataset, None)
    cache = Cache(args.cache, dataset.cache_name, dataset.fingerprint)
    faces = acquire(runtime, dataset, cache, needed=dataset.needed)
    tag = faces_tag(runtime, False)
    rows = dataset.in_mated  # the fixed threshold discards mated comparisons only
    served = model_scores(runtime, SERVED, faces, cache, tag, rows)

    scorer_served, backend, _ = analytic_scorer(threads=args.threads)
    scorer = DiffusionScorer(load(args.model), scorer_served, backend, steps=args.steps)
    own = Cache(args.own_cache, dataset.cache_name, dataset.fingerprint)
    cos_tag = tag_of("diffiqa-ddpm-v1", file_digest(args.model), args.steps, scorer_served.params.model_dump(), tag)
    wanted = faces.ok & rows
    cosines = own.rows(
        "cosines-diffiqa_ddpm",
        cos_tag,
        len(faces.ok),
        wanted,
        lambda idx: {"cosines": scorer.cosines(faces.crops[idx])},
        chunk=16,
    )["cosines"]
    cosines = np.where(wanted[:, None], cosines, np.nan)
    scored = variants(served.raw, cosines, scorer.repeats)
    recognition = tied_recognition(runtime, SERVED)
    qualities = [served] + [
        QualityScores(name, "model", scored[variant], None, recognition) for variant, name in NAMES.items()
    ]
    qualities += [
        QualityScores(b, "baseline", baseline(b, dataset, faces), None, None) for b in analysis.REFERENCES[1:]
    ]
    compared = []
    for recognizer in recognizers(runtime, args.fr.split(","), "dlib"):
        vectors = embeddings(recognizer, dataset, faces, cache, tag)
        compared.append(analysis.comparisons(dataset, faces, recognizer.name, vectors, recognizer.similarity))
    settings = analysis.Settings(
        fmrs=(FMR,),
        uppers=UPPERS,
        replicates=args.bootstrap,
        seed=args.seed,
        conventions=("fixed",),
        references=(*analysis.REFERENCES, COMPLETE),
    )
    outcome = analysis.analyse(dataset, faces, qualities, compared, settings, rows)
    summary = summarise(outcome.results, [q.name for q in qualities])
    facts = json.loads((args.model.parent / "facts.json").read_text())
    facts.pop("history", None)
    n, kept = scorer.repeats, cosines[wanted]
    noisy = (served.raw[wanted] * (1 + 2 * n) - kept[:, 0]) / (2 * n)  # the served mean less the mirror
    families = {"mirror": kept[:, :1], "noisy copies": noisy, "reconstructions": kept[:, 1 : 1 + 2 * n]}
    families |= {"detail-kept reconstructions": kept[:, 1 + 2 * n : 1 + 4 * n], "64-pixel round trip": kept[:, -1:]}
    report = {
        "updated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m fiqa compare-diffiqa " + " ".join(shlex.quote(a) for a in sys.argv[2:]),
        "dataset": dataset.name,
        "faces": int(wanted.sum()),
        "repeats": n,
        "timestep": scorer.timestep,
        "backward": f"{args.steps} deterministic DDIM step(s)" if args.steps else f"{scorer.timestep} ancestral steps",
        "model": facts,
        "mean_cosine": {name: float(values.mean()) for name, values in families.items()},
        "spearman": spearman({SERVED: served.raw[wanted]} | {q: scored[v][wanted] for v, q in NAMES.items()}),
        "recognition": summary,
        "seconds": round(time.monotonic() - started, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{args.threads} thread(s); load average at the end " + " / ".join(f"{v:.2f}" for v in os.getloadavg()),
    }
    report["conclusion"] = conclusion(summary)
    args.reports.mkdir(parents=True, exist_ok=True)
    (args.reports / "diffiqa_ddpm.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.reports / "diffiqa_ddpm.md").write_text(render(report))
    log.info("%s", report["conclusion"])
    runtime.shutdown()
    return 0
