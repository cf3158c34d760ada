"""MR-FIQA labels: Q = minmax[(f_r + λ·s_d) / (1 − v_l)], λ = 0.5, on the crops and their degraded copies.

- f_r: cosine between a sample's ``fr_feature`` embedding and its identity's reference representation — the
  normalised mean embedding of all that identity's undegraded crops except the sample's own source photo
  (CelebA has no separate reference shots, so leave-one-out stands in for the seed's Z reference samples).
- s_d: the minimal rank over the degradation intensities (blur, down-sampling; 5 = none ... 1 = strongest),
  mapped to [0, 1] as (rank − 1) / 4. Pose is not synthesised (it cannot be produced honestly from a 2-D crop),
  so pose enters only through f_r.
- v_l: BLIP's vision-language score is unavailable offline; v_l = 0, so the denominator is 1.
minmax is over the whole labelled set.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from fiqa.data.celeba import CelebaIndex
from fiqa.data.degrade import DEGRADED_SEED, LEVEL_PROBABILITIES, degraded_set
from fiqa.data.embed import Embedder
from fiqa.data.teacher import teacher_embeddings

LAMBDA = 0.5
LEVELS = len(LEVEL_PROBABILITIES)


def reference_similarity(
    samples: np.ndarray, plain: np.ndarray, identity: np.ndarray, source: np.ndarray
) -> np.ndarray:
    """f_r of each sample: cosine to the normalised mean of its identity's plain embeddings, leaving out the
    sample's own source photo (``source`` indexes ``plain``) when the identity has more than one photo."""
    sums: dict[int, np.ndarray] = {}
    counts: dict[int, int] = {}
    for embedding, person in zip(plain, identity, strict=True):
        sums[int(person)] = sums.get(int(person), 0) + embedding
        counts[int(person)] = counts.get(int(person), 0) + 1
    out = np.empty(len(samples))
    for row, (embedding, index) in enumerate(zip(samples, source, strict=True)):
        person = int(identity[index])
        reference = sums[person] - plain[index] if counts[person] > 1 else sums[person]
        out[row] = embedding @ reference / max(np.linalg.norm(reference) * np.linalg.norm(embedding), 1e-12)
    return out


def spatial_score(blur_rank: np.ndarray, down_rank: np.ndarray) -> np.ndarray:
    """s_d: the minimal rank over the degradation factors, on [0, 1] (1 = undegraded)."""
    return (np.minimum(blur_rank, down_rank) - 1) / (LEVELS - 1)


def quality(f_r: np.ndarray, s_d: np.ndarray, v_l: np.ndarray | float = 0.0, lam: float = LAMBDA) -> np.ndarray:
    """Eq. (1): minmax over the set of (f_r + λ s_d) / (1 − v_l)."""
    raw = (f_r + lam * s_d) / (1.0 - np.asarray(v_l, dtype=np.float64))
    return (raw - raw.min()) / max(raw.max() - raw.min(), 1e-12)


def labels(data: Path, force: bool = False) -> dict[str, np.ndarray]:
    """Labels of ``fiqa.data.degrade.labelled_set`` (crops, then degraded copies), with f_r and s_d; cached.
    Uses the teacher embeddings cached by the DifFIQA labelling (no extra recognition passes when present)."""
    cache = data / "labels_mrfiqa.npz"
    if cache.exists() and not force:
        with np.load(cache) as stored:
            return dict(stored)
    index = CelebaIndex.load(data / "index.npz")
    plain, _ = teacher_embeddings(data)
    rows, degraded, params = degraded_set(data)
    embedded_path = data / f"teacher_degraded_s{DEGRADED_SEED}.npy"
    if embedded_path.exists():
        degraded_embeddings = np.load(embedded_path)
    else:
        degraded_embeddings = Embedder()(np.asarray(degraded))
        np.save(embedded_path, degraded_embeddings)
    count = len(plain)
    source = np.concatenate([np.arange(count), rows])
    f_r = reference_similarity(np.concatenate([plain, degraded_embeddings]), plain, index.identity, source)
    blur_rank = np.concatenate([np.full(count, LEVELS), LEVELS - params[:, 0]])
    down_rank = np.concatenate([np.full(count, LEVELS), LEVELS - params[:, 2]])
    s_d = spatial_score(blur_rank, down_rank)
    result = {"label": quality(f_r, s_d), "f_r": f_r, "s_d": s_d}
    np.savez(cache, **result)
    return result


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data/celeba_aligned"))
    parser.add_argument("--force", action="store_true")


def main(args: argparse.Namespace) -> int:
    """Run the command (``python -m fiqa`` parses its arguments with ``configure``)."""
    result = labels(args.data, args.force)
    print(
        {
            key: (round(float(v.min()), 4), round(float(np.median(v)), 4), round(float(v.max()), 4))
            for key, v in result.items()
        }
    )
    return 0
