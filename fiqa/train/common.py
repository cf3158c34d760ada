"""What every training command shares besides its loop: run records, curves and run arguments."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class RunLog:
    """Per-epoch figures of one training run, written as JSON beside the checkpoint."""

    path: Path
    config: dict
    epochs: list[dict] = field(default_factory=list)
    start: float = field(default_factory=time.perf_counter)

    def add(self, **figures) -> None:
        figures["elapsed_s"] = round(time.perf_counter() - self.start, 1)
        self.epochs.append(figures)
        self.path.write_text(json.dumps({"config": self.config, "epochs": self.epochs}, indent=1))
        print(json.dumps(figures), flush=True)

    @property
    def elapsed_min(self) -> float:
        return (time.perf_counter() - self.start) / 60


def plot_curves(log_path: Path, keys: list[str], out: Path, title: str) -> None:
    """Training curves (one line per key over epochs) as a PNG for the model card."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    record = json.loads(log_path.read_text())
    epochs = record["epochs"]
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3))
    for axis, key in zip(np.atleast_1d(axes), keys, strict=True):
        axis.plot([e["epoch"] for e in epochs], [e[key] for e in epochs], marker="o")
        axis.set_title(key)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def add_run_arguments(parser: argparse.ArgumentParser, *, epochs: int, max_minutes: float, weight_decay: float) -> None:
    """The budget and schedule arguments every training command takes (defaults per command)."""
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--weight-decay", type=float, default=weight_decay)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-minutes", type=float, default=max_minutes, help="wall-clock budget; ends the run")
    parser.add_argument("--seed", type=int, default=0)
