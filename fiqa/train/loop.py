"""The one training loop of every trainer (backbone, regressor, ViT-FIQA): epochs of shuffled batches, optimiser
steps on a schedule driven by steps or wall time, then per epoch a validation, the run record and the checkpoint.

A trainer supplies what differs: the loss of one batch, its validation figures and how to save a checkpoint.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from fiqa.train.common import RunLog

# one batch: (rows, mirrored?) -> the loss to step on and the figures to average over the epoch
Step = Callable[[np.ndarray, np.ndarray], tuple[torch.Tensor, dict[str, float | torch.Tensor]]]


@dataclass
class Budget:
    """Training progress on [0, 1]: steps done or wall time used, whichever is further along.

    On a shared CPU the wall-clock budget, not the epoch count, often ends a run; driving the cosine schedule
    by this progress makes a cut-short run still finish its learning-rate decay.
    """

    total_steps: int
    minutes: float
    warmup: int = 20
    start: float = field(default_factory=time.perf_counter)

    def progress(self, step: int) -> float:
        return max(step / max(1, self.total_steps), (time.perf_counter() - self.start) / (60 * self.minutes))

    def lr(self, step: int, base: float) -> float:
        if step < self.warmup:
            return base * (step + 1) / self.warmup
        return base * 0.5 * (1 + math.cos(math.pi * min(1.0, self.progress(step))))

    def done(self, step: int) -> bool:
        return self.progress(step) >= 1.0


def fit(
    model: nn.Module,
    optimiser: torch.optim.Optimizer,
    rows: np.ndarray,
    step: Step,
    validate: Callable[[], tuple[dict[str, float], float | None]],
    save: Callable[[int], None],
    *,
    run: argparse.Namespace,
    log: RunLog,
    figures: tuple[str, ...],
    digits: int = 5,
    freeze_bn: bool = False,
) -> tuple[float | None, int]:
    """Train ``model`` on ``rows`` for ``run.epochs`` epochs of ``run.batch`` rows (``run.seed`` draws the order and
    the mirrors) or until ``run.max_minutes``; returns (score, epoch) of the checkpoint kept.

    Each optimiser group's learning rate follows ``Budget.lr`` from the group's initial ``lr``. After each epoch
    the mean of each ``figures`` entry ``step`` returned (rounded to ``digits``) and ``validate``'s figures go into
    ``log``; ``save(epoch)`` is called when ``validate``'s score beats every earlier one, or every epoch when it
    gives none. ``freeze_bn`` keeps BatchNorm statistics fixed (a BN-folded imported backbone).
    """
    rng = np.random.default_rng(run.seed)
    steps_per_epoch = len(rows) // run.batch
    total = steps_per_epoch * run.epochs
    budget = Budget(total, run.max_minutes)
    bases = [group["lr"] for group in optimiser.param_groups]
    done_steps = 0
    best: tuple[float | None, int] = (-math.inf, 0)
    for epoch in range(1, run.epochs + 1):
        model.train()
        if freeze_bn:
            for module in model.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        sums = dict.fromkeys(figures, 0.0)
        order = rng.permutation(rows)
        done = 0
        for number in range(steps_per_epoch):
            if budget.done(done_steps):
                break
            batch = np.sort(order[number * run.batch : (number + 1) * run.batch])
            flip = rng.random(len(batch)) < 0.5
            loss, values = step(batch, flip)
            for group, base in zip(optimiser.param_groups, bases, strict=True):
                group["lr"] = budget.lr(done_steps, base)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            done_steps += 1
            done += 1
            for key, value in values.items():
                sums[key] += float(value)
        validation, score = validate()
        log.add(
            epoch=epoch,
            steps=done_steps,
            **{key: round(value / max(1, done), digits) for key, value in sums.items()},
            **validation,
        )
        if score is None or score > best[0]:
            best = score, epoch
            save(epoch)
        if budget.done(done_steps):
            print(f"stopping after epoch {epoch}, step {done_steps}/{total}: budget reached", flush=True)
            break
    return best
