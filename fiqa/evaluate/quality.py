"""Quality scores of acquired faces: every quality model card the gateway serves, plus the baselines.

Models are found by iterating the registry's quality cards, so a trained model added later as a card (and wired
into ``service.quality.build_methods``) is evaluated without touching this file. Its scores come from the
gateway's own method object (``prepare`` -> backend -> ``postprocess``); EDCs use the raw score (the ranking the
method produces), calibration uses the card's 0..100 mapping of it.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass

import cv2
import numpy as np

from fiqa.evaluate.acquire import Acquired
from fiqa.evaluate.cache import Cache, card_part, file_digest, tag_of
from fiqa.evaluate.datasets import Dataset
from service.runtime import Runtime

log = logging.getLogger(__name__)

BASELINES = ("random", "face_size", "det_confidence", "sharpness")


@dataclass
class QualityScores:
    """One quality measure's per-sample scores (NaN where no face was acquired)."""

    name: str
    kind: str  # "model" or "baseline"
    raw: np.ndarray
    score: np.ndarray | None  # the gateway's 0..100 score (models only)
    recognition: str | None  # the FR model the quality measure is tied to (None: independent)


def sharpness(crops: np.ndarray) -> np.ndarray:
    """Variance of the Laplacian of the grey aligned crop: high for sharp detail, low for blur."""
    return np.asarray([cv2.Laplacian(cv2.cvtColor(c, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for c in crops])


def random_scores(dataset: Dataset, seed: int = 0) -> np.ndarray:
    """Uniform scores seeded by the sample key, so a sample keeps its score whatever else is in the set."""
    return np.asarray([np.random.default_rng([seed, zlib.crc32(s.key.encode())]).random() for s in dataset.samples])


def baseline(name: str, dataset: Dataset, faces: Acquired, seed: int = 0) -> np.ndarray:
    if name == "random":
        values = random_scores(dataset, seed)
    elif name == "face_size":
        values = faces.inter_eye.copy()
    elif name == "det_confidence":
        values = faces.det_score.copy()
    elif name == "sharpness":
        values = sharpness(faces.crops)
    else:
        raise ValueError(f"unknown baseline {name!r}")
    return np.where(faces.ok, values, np.nan)


def model_tag(runtime: Runtime, name: str) -> str:
    """Everything a model's raw scores depend on: what its card and its networks' cards say of their outputs (the
    networks' bytes pinned by their sha256), the method's parameters among them."""
    card = runtime.registry[name]
    networks = [card_part(runtime.registry[n]) for n in card.networks]
    parts = ["quality-v3", card_part(card), networks]
    unpinned = [n for n in card.networks if runtime.registry[n].sha256 is None]
    return tag_of(*parts, [file_digest(runtime.registry.file_of(n)) for n in unpinned])


def model_scores(
    runtime: Runtime, name: str, faces: Acquired, cache: Cache, faces_tag: str, rows: np.ndarray | None = None
) -> QualityScores:
    """Raw and 0..100 scores of the acquired faces (of ``rows`` only, when given; NaN elsewhere)."""
    wanted = faces.ok if rows is None else faces.ok & rows

    def compute(indices: np.ndarray) -> dict[str, np.ndarray]:
        raw = np.full(indices.size, np.nan)
        ok = wanted[indices]
        if ok.any():
            raw[ok] = runtime.score_crops(name, faces.crops[indices[ok]])
        return {"raw": raw}

    tag = tag_of(model_tag(runtime, name), faces_tag)
    raw = cache.rows(f"quality-{name}", tag, len(faces.ok), wanted, compute, chunk=64)["raw"]
    raw = np.where(wanted, raw, np.nan)
    method = runtime.methods[name]
    score = np.where(np.isfinite(raw), method.to_score(np.nan_to_num(raw)), np.nan)
    return QualityScores(name, "model", raw, score, tied_recognition(runtime, name))


def tied_recognition(runtime: Runtime, name: str) -> str | None:
    """The FR model a quality model depends on: the network it runs (``uses``), or for a trained model the one
    its card names as the source of its labels (``source: {recognition_model: ...}``)."""
    card = runtime.registry[name]
    return card.uses[0] if card.uses else card.source.get("recognition_model")


def all_scores(
    runtime: Runtime,
    dataset: Dataset,
    faces: Acquired,
    cache: Cache,
    faces_tag: str,
    models: list[str] | None = None,
    aligned: bool = False,
    seed: int = 0,
    rows: np.ndarray | None = None,
) -> list[QualityScores]:
    """Every selected quality model (default: all the gateway serves; scored on ``rows`` when given) and every
    baseline that applies."""
    names = list(runtime.methods) if models is None else models
    out = []
    for name in names:
        missing = runtime.missing_files(name)
        if missing:
            log.warning("quality model %s skipped: missing %s", name, ", ".join(missing))
            continue
        out.append(model_scores(runtime, name, faces, cache, faces_tag, rows))
    for name in BASELINES:
        if aligned and name in ("face_size", "det_confidence"):
            continue  # no detection ran: these facts do not exist
        out.append(QualityScores(name, "baseline", baseline(name, dataset, faces, seed), None, None))
    return out
