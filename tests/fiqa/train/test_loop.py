"""The one training loop: epochs of batches, per-group learning rates, averaged figures, the checkpoint kept."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fiqa.train.common import RunLog
from fiqa.train.loop import fit


def _run(epochs: int = 3, batch: int = 4, minutes: float = 10.0) -> argparse.Namespace:
    return argparse.Namespace(epochs=epochs, batch=batch, max_minutes=minutes, seed=0)


def _setup(tmp_path: Path) -> tuple[nn.Module, torch.optim.Optimizer, RunLog]:
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Linear(2, 1))
    optimiser = torch.optim.SGD(
        [{"params": model[0].parameters(), "lr": 0.1}, {"params": model[2].parameters(), "lr": 0.01}]
    )
    return model, optimiser, RunLog(tmp_path / "history.json", {})


def test_keeps_the_best_scored_epoch_and_averages_the_step_figures(tmp_path: Path) -> None:
    model, optimiser, log = _setup(tmp_path)
    x = torch.randn(10, 2)
    seen: list[np.ndarray] = []
    rates: list[list[float]] = []

    def step(rows: np.ndarray, flip: np.ndarray) -> tuple[torch.Tensor, dict[str, float]]:
        seen.append(rows)
        rates.append([group["lr"] for group in optimiser.param_groups])
        return model(x[rows]).pow(2).mean(), {"loss": float(len(rows))}

    scores = iter([0.5, 0.7, 0.6])
    saved: list[int] = []
    best = fit(
        model,
        optimiser,
        np.arange(10),
        step,
        lambda: ({"val": 1.0}, next(scores)),
        saved.append,
        run=_run(),
        log=log,
        figures=("loss", "unused"),
    )
    assert best == (0.7, 2) and saved == [1, 2]
    assert len(seen) == 3 * (10 // 4) and all(len(rows) == 4 and (np.diff(rows) > 0).all() for rows in seen)
    epochs = json.loads(log.path.read_text())["epochs"]
    assert [e["steps"] for e in epochs] == [2, 4, 6]
    assert all(e["loss"] == 4.0 and e["unused"] == 0.0 and e["val"] == 1.0 for e in epochs)
    # the rate seen by step k is the one set for step k - 1: each group keeps its own base, 10:1
    assert all(abs(first / second - 10.0) < 1e-9 for first, second in rates[1:])


def test_without_a_score_every_epoch_is_saved_and_frozen_batchnorm_keeps_its_statistics(tmp_path: Path) -> None:
    model, optimiser, log = _setup(tmp_path)
    x = torch.randn(8, 2) * 5 + 3
    before = model[1].running_mean.clone()
    saved: list[int] = []
    fit(
        model,
        optimiser,
        np.arange(8),
        lambda rows, flip: (model(x[rows]).mean(), {}),
        lambda: ({}, None),
        saved.append,
        run=_run(epochs=2),
        log=log,
        figures=(),
        freeze_bn=True,
    )
    assert saved == [1, 2] and torch.equal(model[1].running_mean, before)


def test_the_time_budget_ends_the_run(tmp_path: Path) -> None:
    model, optimiser, log = _setup(tmp_path)
    x = torch.randn(8, 2)
    best = fit(
        model,
        optimiser,
        np.arange(8),
        lambda rows, flip: (model(x[rows]).mean(), {}),
        lambda: ({}, None),
        lambda epoch: None,
        run=_run(epochs=5, minutes=1e-9),
        log=log,
        figures=(),
    )
    assert best == (None, 1)
    assert json.loads(log.path.read_text())["epochs"][0]["steps"] == 0
