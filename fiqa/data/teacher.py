"""Cached teacher embeddings (``fr_feature``) of the aligned crops and of their mirrors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
