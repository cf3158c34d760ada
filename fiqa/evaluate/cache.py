"""Per-dataset cache of expensive results (faces, quality scores, embeddings) under ``data/cache/`` (git-ignored).

A cache entry's file name carries a tag of everything its value depends on (the dataset's sample list, the model
card, the settings that change scores), so a stale entry is never read: it is just not found.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def tag_of(*parts: Any) -> str:
    """A short stable hash of JSON-able parts."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


# The card fields that decide a network's or method's raw outputs. Prose, metrics, thresholds, score mappings and
# provenance are left out, so rewriting a card's figures does not throw away hours of cached scores; fields left
# at their defaults are left out too, so adding an optional card field does not either.
OUTPUT_FIELDS = {"name", "kind", "method", "parameters", "uses", "file", "sha256", "inputs", "outputs", "preprocess"}


def card_part(card: Any) -> dict[str, Any]:
    """What of a model card goes into a cache tag."""
    return card.model_dump(mode="json", include=OUTPUT_FIELDS, exclude_defaults=True)


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (model weights), so a changed file is a new cache entry."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Cache:
    """``root/<dataset>-<fingerprint>/<kind>-<tag>.npz`` holding per-sample rows and a ``done`` mask; ``None``
    root disables caching. Rows are computed only for the samples a run needs, in chunks saved as they finish,
    so a long run can be stopped and resumed, and a run over a subset (e.g. a few LFW folds) reuses and extends
    the same entry."""

    def __init__(self, root: Path | None, dataset: str, fingerprint: str):
        self.folder = Path(root) / f"{dataset}-{fingerprint}" if root else None

    def rows(
        self,
        kind: str,
        tag: str,
        count: int,
        needed: np.ndarray,
        compute: Callable[[np.ndarray], dict[str, np.ndarray]],
        chunk: int = 256,
    ) -> dict[str, np.ndarray]:
        """Arrays of ``count`` rows, valid where ``needed`` (others: NaN / zero), from the cache or ``compute``
        (sample indices -> arrays with one row per index)."""
        path = self.folder / f"{kind}-{tag}.npz" if self.folder else None
        arrays: dict[str, np.ndarray] = {}
        done = np.zeros(count, dtype=bool)
        if path is not None and path.is_file():
            with np.load(path, allow_pickle=False) as stored:
                arrays = {key: stored[key] for key in stored.files if key != "done"}
                done = stored["done"] if "done" in stored.files else np.ones(count, dtype=bool)
        todo = np.flatnonzero(np.asarray(needed, dtype=bool) & ~done)
        started = time.monotonic()
        for start in range(0, todo.size, chunk):
            part = todo[start : start + chunk]
            for key, values in compute(part).items():
                if key not in arrays:
                    fill = np.nan if np.issubdtype(values.dtype, np.floating) else 0
                    arrays[key] = np.full((count, *values.shape[1:]), fill, dtype=values.dtype)
                arrays[key][part] = values
            done[part] = True
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_suffix(".partial.npz")
                np.savez(partial, done=done, **arrays)
                partial.replace(path)
            log.info(
                "%s %s: %d/%d rows (%.0f s)",
                self.folder.name if self.folder else "",
                kind,
                min(start + chunk, todo.size),
                todo.size,
                time.monotonic() - started,
            )
        if not arrays:  # nothing cached or computed: empty rows, shaped by a call on no samples
            for key, values in compute(np.zeros(0, dtype=np.int64)).items():
                fill = np.nan if np.issubdtype(values.dtype, np.floating) else 0
                arrays[key] = np.full((count, *values.shape[1:]), fill, dtype=values.dtype)
        return arrays
