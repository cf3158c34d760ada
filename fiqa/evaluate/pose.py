"""Does quality fall as the face turns away? Yaw from the detector's five landmarks, quality per yaw band.

Pose is the factor face recognition suffers most from, so a quality measure must rank turned faces low. No pose
labels exist for the benchmark, so yaw is read from the landmarks: the nose tip's offset from the midpoint of the
eyes along the eye axis, divided by the inter-eye distance (0 for a frontal face; about ±0.5 when the nose
reaches the outline of one eye, i.e. roughly 45-60°). Its magnitude is the yaw index.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import spearmanr

from fiqa.evaluate.acquire import Acquired
from fiqa.evaluate.datasets import Dataset
from fiqa.evaluate.quality import QualityScores

# Upper edges of the yaw-index bands; the last band is open.
BANDS = (0.1, 0.2, 0.3)
# A face at or above this yaw index counts as turned (the last band): the pose set's comparisons hold one.
TURNED = BANDS[-1]
# Share of the faces, lowest quality first, that a system asking for another capture would discard.
DISCARD = 0.1


def yaw_index(landmarks: np.ndarray) -> np.ndarray:
    """|nose offset along the eye axis| / inter-eye distance per face; (N, 5, 2) ArcFace-order landmarks."""
    left, right, nose = landmarks[:, 0], landmarks[:, 1], landmarks[:, 2]
    axis = right - left
    distance = np.linalg.norm(axis, axis=1)
    offset = np.einsum("nd,nd->n", nose - (left + right) / 2, axis) / np.maximum(distance, 1e-9)
    return np.abs(offset) / np.maximum(distance, 1e-9)


def pitch_index(landmarks: np.ndarray) -> np.ndarray:
    """Signed nose offset along the eye-to-mouth axis, from the eyes' midpoint, over that axis' length, per face;
    (N, 5, 2) ArcFace-order landmarks. It grows as the face tilts down (the nose tip, in front of the face, drops
    towards the mouth): a coarse pitch cue whose zero is not frontal (about half the eye-mouth distance)."""
    eyes = (landmarks[:, 0] + landmarks[:, 1]) / 2
    axis = (landmarks[:, 3] + landmarks[:, 4]) / 2 - eyes
    length2 = np.maximum(np.einsum("nd,nd->n", axis, axis), 1e-9)
    return np.einsum("nd,nd->n", landmarks[:, 2] - eyes, axis) / length2


def turned_subset(dataset: Dataset, faces: Acquired, minimum: float = TURNED) -> Dataset:
    """The pose set: ``dataset``'s comparisons in which at least one face is turned (yaw index >= ``minimum``),
    mated and non-mated alike, so the threshold is set on the same kind of comparison. This is where a
    frontal-profile benchmark fails; no pose labels exist, so the yaw index from the landmarks decides."""
    yaw = np.full(len(faces.ok), np.nan)
    known = faces.ok & np.isfinite(faces.landmarks).all(axis=(1, 2))
    yaw[known] = yaw_index(faces.landmarks[known])
    turned = yaw >= minimum
    keep = turned[dataset.first] | turned[dataset.second]
    protocol = f"{dataset.protocol}; only comparisons with a turned face (yaw index >= {minimum:g})"
    return dataset.subset(keep, f"{dataset.name}-pose", protocol)


def band_names() -> list[str]:
    edges = (0.0, *BANDS)
    return [f"{low:.1f}-{high:.1f}" for low, high in zip(edges, BANDS, strict=False)] + [f">={BANDS[-1]:.1f}"]


def by_pose(faces: Acquired, qualities: list[QualityScores], used: np.ndarray) -> dict[str, Any] | None:
    """Per yaw band: faces, median of each measure (models on the 0..100 scale) and the share of the band among
    the ``DISCARD`` lowest-quality faces; per measure: Spearman of quality with the yaw index (negative = turned
    faces score lower). ``None`` where the faces have no landmarks (aligned crops given)."""
    chosen = faces.ok & used & np.isfinite(faces.landmarks).all(axis=(1, 2))
    if chosen.sum() < 10:
        return None
    yaw = yaw_index(faces.landmarks[chosen])
    band = np.searchsorted(np.asarray(BANDS), yaw, side="right")
    names = band_names()
    out: dict[str, Any] = {"bands": {}, "spearman_with_yaw": {}, "discard": DISCARD}
    discarded = {}
    for q in qualities:
        raw = q.raw[chosen]
        finite = np.isfinite(raw)
        out["spearman_with_yaw"][q.name] = (
            float(spearmanr(raw[finite], yaw[finite]).statistic) if finite.sum() > 2 else None
        )
        order = np.argsort(np.where(finite, raw, -np.inf), kind="stable")
        low = np.zeros(raw.size, dtype=bool)
        low[order[: round(DISCARD * raw.size)]] = True
        discarded[q.name] = low
    for number, name in enumerate(names):
        member = band == number
        entry: dict[str, Any] = {"faces": int(member.sum())}
        for q in qualities:
            values = (q.score if q.score is not None else q.raw)[chosen][member]
            values = values[np.isfinite(values)]
            entry[q.name] = {
                "median": float(np.median(values)) if values.size else None,
                "discarded": float(discarded[q.name][member].mean()) if member.any() else None,
            }
        out["bands"][name] = entry
    return out
