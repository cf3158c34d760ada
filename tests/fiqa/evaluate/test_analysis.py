"""fiqa.evaluate.analysis: under the fixed threshold only mated comparisons' quality matters."""

from __future__ import annotations

import numpy as np

from fiqa.evaluate.acquire import Acquired
from fiqa.evaluate.analysis import Settings, analyse, comparisons
from fiqa.evaluate.datasets import Sample, from_samples
from fiqa.evaluate.quality import QualityScores


def _setting(count: int = 90, seed: int = 0):
    rng = np.random.default_rng(seed)
    identities = [f"p{i // 3}" if i < 60 else f"single{i}" for i in range(count)]  # 30 singletons: non-mated only
    dataset = from_samples("set", [Sample(f"k{i}", name, bytes) for i, name in enumerate(identities)])
    faces = Acquired(
        ok=np.ones(count, bool),
        crops=np.zeros((count, 2, 2, 3), np.uint8),
        boxes=np.zeros((count, 4)),
        landmarks=np.full((count, 5, 2), np.nan),
        det_score=rng.random(count),
        inter_eye=rng.uniform(20, 80, count),
        out_of_frame=np.zeros(count),
        faces_detected=np.ones(count, int),
    )
    quality = rng.random(count)
    codes = dataset.identity_codes()
    embeddings = rng.normal(size=(codes.max() + 1, 8))[codes] * 1.5 + rng.normal(size=(count, 8)) * quality[:, None] * 3
    return dataset, faces, quality, embeddings


def test_fixed_convention_needs_quality_only_where_a_comparison_can_be_discarded() -> None:
    dataset, faces, quality, embeddings = _setting()
    compared = [comparisons(dataset, faces, "fr", embeddings, lambda a, b: -np.linalg.norm(a - b, axis=1))]
    settings = Settings(fmrs=(1e-2,), replicates=30, conventions=("fixed",))
    everywhere = QualityScores("q", "model", quality, quality * 100, None)
    rows = dataset.in_mated
    assert rows.sum() == 60 and not rows[60:].any()
    only_mated = QualityScores("q", "model", np.where(rows, quality, np.nan), None, None)
    full = analyse(dataset, faces, [everywhere], compared, settings).results["recognition"]["fr"]
    part = analyse(dataset, faces, [only_mated], compared, settings, rows).results["recognition"]["fr"]
    assert part["non_mated"] == full["non_mated"] == (~dataset.mated).sum()
    assert part["quality"]["q"]["fixed"] == full["quality"]["q"]["fixed"]
