"""Distillation labels: a trained regressor's predictions, for a cheaper student (DifFIQA(R) taught onward).

The regressor started from the labelling recognition network (``import-teacher``) costs a full recognition pass
per face. Its predictions are a
smoother target than the raw labels: a small student regresses them. A label is the mean of the prediction on
the crop and on its mirror (the student trains on random flips), cached per prepared set and checkpoint.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from fiqa.data.degrade import labelled_set
from fiqa.models.served import load_served, predict


def checkpoint_key(model: Path) -> str:
    """Short content hash of the checkpoint: a retrained model never reuses stale labels."""
    return hashlib.sha256(model.read_bytes()).hexdigest()[:12]


def predictions(network: torch.nn.Module, crops: np.ndarray) -> np.ndarray:
    """Mean of the network's output on each crop and on its mirror (a view: no copy of the set)."""
    return ((predict(network, crops) + predict(network, crops[:, :, ::-1])) / 2).astype(np.float64)


def labels(data: Path, model: Path) -> np.ndarray:
    """One label per sample of ``labelled_set(data)`` (crops, then degraded copies), cached in ``data``."""
    cache = data / f"labels_distilled-{checkpoint_key(model)}.npz"
    if cache.exists():
        with np.load(cache) as stored:
            return stored["raw"]
    raw = predictions(load_served(model), labelled_set(data)[0])
    np.savez(cache, raw=raw, model=str(model))
    return raw
