"""Every label source in one table: what ``--labels <name>`` computes, what it needs, and how a card names it.

A source gives one raw label per sample of ``fiqa.data.degrade.labelled_set(data)`` (the crops, then their
degraded copies), before scaling. Each labelling module is imported on use: some pull heavy dependencies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fiqa.data.celeba import CelebaIndex
from fiqa.data.degrade import labelled_set
from fiqa.data.teacher import teacher_targets


def _diffiqa(data: Path, _label_model: Path | None) -> np.ndarray:
    """DifFIQA's raw served score."""
    from fiqa.labels.diffiqa import labels

    return labels(data)[0]


def _mrfiqa(data: Path, _label_model: Path | None) -> np.ndarray:
    """MR-FIQA's label (already min-max within its identities)."""
    from fiqa.labels.mrfiqa import labels

    return labels(data)["label"]


def _crfiqa(data: Path, _label_model: Path | None) -> np.ndarray:
    """CR-FIQA's offline certainty ratio: fr_feature embeddings against the identity centres."""
    from fiqa.labels.crfiqa import certainty_ratio

    index = CelebaIndex.load(data / "index.npz")
    return certainty_ratio(teacher_targets(data)[0], index.identity[labelled_set(data)[1]])


def _distilled(data: Path, label_model: Path | None) -> np.ndarray:
    """A trained regressor's predictions (from its checkpoint ``label_model``)."""
    from fiqa.labels.distilled import labels

    if label_model is None:
        raise ValueError("distilled labels need the teacher regressor's checkpoint (--label-model)")
    return labels(data, label_model)


@dataclass(frozen=True)
class LabelSource:
    """One way of labelling the training samples."""

    load: Callable[[Path, Path | None], np.ndarray]  # (prepared set, teacher checkpoint) -> raw labels
    identities: bool  # needs the set's identities, so it cannot label an identity-free ``--extra`` set
    regressor: bool  # a ``train-regressor --labels`` choice; crfiqa is ViT-FIQA's target (``--cr-source teacher``)
    note: str  # what the labels are, in the model card's words


SOURCES: dict[str, LabelSource] = {
    "diffiqa": LabelSource(
        _diffiqa,
        identities=False,
        regressor=True,
        note="DifFIQA labels: the served score of the gateway's diffiqa scorer (n=4 noisy copies, t=10, all "
        "passes) of every labelled sample",
    ),
    "mrfiqa": LabelSource(
        _mrfiqa, identities=True, regressor=True, note="MR-FIQA labels (fiqa.labels.mrfiqa), lambda=0.5, v_l=0"
    ),
    "crfiqa": LabelSource(
        _crfiqa,
        identities=True,
        regressor=False,
        note="CR-FIQA's offline certainty ratio CCS / (NNCCS + 1 + ε) of fr_feature's embeddings against the "
        "training identities' centres (own centre leave-one-out)",
    ),
    "distilled": LabelSource(
        _distilled,
        identities=False,
        regressor=True,
        note="the teacher regressor's predictions, mean over each crop and its mirror (fiqa.labels.distilled); "
        "the teacher learned DifFIQA labels (the gateway's diffiqa scorer, n=4 noisy copies, t=10)",
    ),
}


def raw_labels(source: str, data: Path, label_model: Path | None = None) -> np.ndarray:
    """One raw label per sample of ``labelled_set(data)`` from the source named ``source``."""
    if source not in SOURCES:
        raise ValueError(f"unknown label source {source!r}")
    return SOURCES[source].load(data, label_model)
