"""PNG figures for the report: EDC step curves per FMR, and quality-score distributions per dataset."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from fiqa.evaluate.analysis import ORACLE, Outcome
from fiqa.evaluate.degrade import degradation_of
from fiqa.evaluate.quality import QualityScores

STYLE = {ORACLE: {"color": "black", "linestyle": ":", "linewidth": 1.2}, "random": {"color": "grey"}}


def edc_figure(
    outcome: Outcome,
    dataset: str,
    recognition: str,
    convention: str,
    fmrs: tuple[float, ...],
    path: Path,
    max_discard: float = 0.6,
) -> Path:
    """One panel per FMR, every quality measure as a non-interpolated step curve."""
    names = sorted({k[1] for k in outcome.curves if k[0] == recognition and k[2] == convention} | {ORACLE})
    fig, axes = plt.subplots(1, len(fmrs), figsize=(5.2 * len(fmrs), 4.2), squeeze=False)
    for ax, fmr in zip(axes[0], fmrs, strict=True):
        for name in names:
            key = (recognition, name, convention if name != ORACLE else "fixed", fmr)
            curve = outcome.curves.get(key)
            if curve is None or (name == ORACLE and convention != "fixed"):
                continue
            keep = curve.discard < max_discard
            x = np.append(curve.discard[keep], max_discard)
            y = np.append(curve.fnmr[keep], curve.at(max_discard))
            label = name if curve.resolved else f"{name} (FMR unresolved)"
            ax.step(x, y, where="post", label=label, **STYLE.get(name, {}))
        thresholds = outcome.results["recognition"][recognition]["thresholds"].get(f"{fmr:g}", {})
        note = "" if thresholds.get("resolved", True) else "\n(below resolution: t = max non-mated score)"
        ax.set_title(f"FMR = {fmr:g}{note}", fontsize=10)
        ax.set_xlabel("fraction discarded" + (" (mated comparisons)" if convention == "fixed" else " (all pairs)"))
        ax.set_ylabel("FNMR")
        ax.set_xlim(0, max_discard)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="upper right")
    fig.suptitle(f"EDC, {dataset}, FR model {recognition}, threshold {convention}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def distribution_figure(qualities: list[QualityScores], keys: list[str], dataset: str, path: Path) -> Path:
    """Histogram of each quality measure (models on the gateway's 0..100 scale); degraded sets split by kind."""
    groups = np.asarray([degradation_of(k).rstrip("123") for k in keys])
    kinds = list(dict.fromkeys(sorted(groups, key=lambda g: (g != "original", g))))
    cols = 3
    rows = -(-len(qualities) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.3 * rows), squeeze=False)
    for ax, quality in zip(axes.flat, qualities, strict=False):
        values = quality.score if quality.score is not None else quality.raw
        finite = np.isfinite(values)
        if not finite.any():
            continue
        bins = np.linspace(np.nanmin(values), np.nanmax(values) + 1e-9, 40)
        for kind in kinds:
            chosen = finite & (groups == kind)
            if chosen.any():
                ax.hist(values[chosen], bins=bins, alpha=0.55 if len(kinds) > 1 else 0.9, label=kind)
        scale = "0..100 score" if quality.score is not None else "raw"
        ax.set_title(f"{quality.name} ({scale})", fontsize=10)
        ax.set_ylabel("samples")
    for ax in list(axes.flat)[len(qualities) :]:
        ax.axis("off")
    if len(kinds) > 1:
        axes[0][0].legend(fontsize=7)
    fig.suptitle(f"Quality score distributions, {dataset}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
