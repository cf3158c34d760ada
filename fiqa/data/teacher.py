"""Cached teacher embeddings (``fr_feature``) of the aligned crops, of their mirrors and of the degraded copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fiqa.data.degrade import DEGRADED_SEED
from fiqa.data.embed import Embedder


def teacher_embeddings(data: Path, force: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings, mirrored-crop embeddings), each (N, 512) L2-normalised, cached in ``data``."""
    cache = data / "teacher_fr_feature.npz"
    if cache.exists() and not force:
        with np.load(cache) as stored:
            return stored["plain"], stored["mirror"]
    crops = np.load(data / "crops112.npy")
    embed = Embedder()
    plain, mirror = embed(crops), embed(np.ascontiguousarray(crops[:, :, ::-1]))
    np.savez(cache, plain=plain, mirror=mirror)
    return plain, mirror


def teacher_targets(data: Path) -> tuple[np.ndarray, np.ndarray]:
    """Teacher (fr_feature) embeddings of ``labelled_set(data)``'s samples and of their mirrors, both (N, 512)
    L2-normalised, from the caches the DifFIQA labelling wrote. A degraded copy's mirror embedding was never
    computed: its own stands in (a recognition embedding barely moves under a mirror on a good face, and the
    term only keeps the backbone a recognition network)."""
    plain, mirror = teacher_embeddings(data)
    degraded = np.load(data / f"teacher_degraded_s{DEGRADED_SEED}.npy")
    return np.concatenate([plain, degraded]), np.concatenate([mirror, degraded])
