"""DifFIQA labels: the gateway's analytic perturbation scorer run on aligned training crops, min-max to [0, 1].

The scorer object is the gateway's own ``DifFIQAPerturbation`` built from the ``diffiqa`` card (same n, t and
seed as served), so the regressor distils exactly the model it is meant to replace.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from fiqa.data.degrade import DEGRADED_SEED, degraded_set
from fiqa.data.embed import chunked, ort_runtime
from fiqa.data.teacher import teacher_embeddings
from service.backends.onnxruntime import OnnxRuntimeBackend
from service.quality.base import network_input
from service.quality.diffiqa import DifFIQAPerturbation

log = logging.getLogger(__name__)


def analytic_scorer(repeats: int | None = None, models_dir: Path | None = None, threads: int = 2):
    """(scorer, backend, served repeats): the gateway's scorer with the ``diffiqa`` card's served settings,
    except ``repeats`` noisy copies when given."""
    runtime = ort_runtime(["fr_feature"], models_dir, threads)
    served = runtime.methods["diffiqa"]
    assert isinstance(served, DifFIQAPerturbation)
    scorer = served if repeats is None else DifFIQAPerturbation(served.card, runtime.registry, repeats=repeats)
    return scorer, runtime.backend, served.repeats


def embed(scorer: DifFIQAPerturbation, backend: OnnxRuntimeBackend, pixels: np.ndarray) -> np.ndarray:
    """L2-normalised float64 embeddings (faces, copies, D) of pixel copies (faces, copies, S, S, 3) on 0..255,
    by the scorer's face-recognition network as the gateway runs it."""
    network = scorer.recognition
    assert network.preprocess is not None
    tensor = network_input(pixels.reshape(-1, *pixels.shape[2:]), network.preprocess)
    result = backend.infer_sync(network.name, {network.inputs[0].name: tensor})[network.outputs[0].name]
    embeddings = result.astype(np.float64).reshape(*pixels.shape[:2], -1)
    return embeddings / np.maximum(np.linalg.norm(embeddings, axis=2, keepdims=True), 1e-12)


def served_estimate(cosines: np.ndarray, repeats: int, served_repeats: int) -> np.ndarray:
    """Unbiased estimate of the served score from fewer noisy copies.

    ``cosines`` (faces, 1 + 2 r): to e_x of x^f, r noisy x, r noisy x^f. The served score weights the mirror
    1 / (1 + 2 n) and each noisy family n / (1 + 2 n); the r-copy means stand in for the n-copy means.
    """
    mirror = cosines[:, 0]
    noisy = cosines[:, 1 : 1 + repeats].mean(axis=1) + cosines[:, 1 + repeats :].mean(axis=1)
    return (mirror + served_repeats * noisy) / (1 + 2 * served_repeats)


def raw_scores(
    crops: np.ndarray,
    repeats: int | None = 1,
    known: tuple[np.ndarray, np.ndarray] | None = None,
    batch: int = 32,
    models_dir: Path | None = None,
    threads: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw analytic DifFIQA score (mean cosine, Eq. 7) of every crop, as served (n from the settings),
    estimated from ``repeats`` noisy copies per face (``None``: the served n, i.e. exactly the served score).
    Fewer copies give an unbiased but noisier label for 2 + 2r instead of 2 + 2n face-recognition passes.

    ``known``: the (already computed) embeddings of the crops and of their mirrors, e.g. the cached teacher
    embeddings; then only the noisy copies are embedded. Returns (raw scores, embeddings of the crops).
    """
    scorer, backend, served = analytic_scorer(repeats, models_dir, threads)
    repeats = served if repeats is None else repeats
    out, plain = [], []
    start = time.perf_counter()
    for part in chunked(len(crops), batch):
        faces = np.asarray(crops[part])
        pixels = scorer.perturb(faces).reshape(len(faces), scorer.copies, *faces.shape[1:])
        if known is not None:
            pixels = pixels[:, 2:]
        embeddings = embed(scorer, backend, pixels)
        if known is not None:
            embeddings = np.concatenate([known[0][part][:, None], known[1][part][:, None], embeddings], axis=1)
            embeddings /= np.maximum(np.linalg.norm(embeddings, axis=2, keepdims=True), 1e-12)
        cosines = np.einsum("fd,fkd->fk", embeddings[:, 0], embeddings[:, 1:])
        out.append(served_estimate(cosines, repeats, served))
        plain.append(embeddings[:, 0].astype(np.float32))
        if part.start % (batch * 25) == 0:
            log.info("diffiqa labels %d/%d, %.0f s", part.stop, len(crops), time.perf_counter() - start)
    return np.concatenate(out), np.concatenate(plain)


def normalise(raw: np.ndarray, low: float | None = None, high: float | None = None) -> np.ndarray:
    """Min-max to [0, 1] (bounds default to the data's own min and max)."""
    low = float(raw.min()) if low is None else low
    high = float(raw.max()) if high is None else high
    return np.clip((raw - low) / max(high - low, 1e-12), 0.0, 1.0)


def labels(
    data: Path, force: bool = False, repeats: int | None = None, threads: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """(raw, normalised) labels of ``fiqa.data.degrade.labelled_set``: the N crops, then the degraded copies
    (MR-FIQA's blur / down-sampling distributions) of half of them, so the regressor also sees the low-quality
    end that CelebA photos rarely reach. Cached in ``data/labels_diffiqa.npz``; min-max over all raw scores.
    The degraded copies' embeddings are cached too (``teacher_degraded_s1.npy``: MR-FIQA's f_r needs them).
    ``repeats``: noisy copies per face (see ``raw_scores``); the cache records it. ``threads``: onnxruntime's
    intra-op threads (one is faster than two on a CPU other jobs share)."""
    cache = data / "labels_diffiqa.npz"
    if cache.exists() and not force:
        with np.load(cache) as stored:
            return stored["raw"], stored["label"]
    crops = np.load(data / "crops112.npy", mmap_mode="r")
    _, degraded, _ = degraded_set(data)
    degraded_raw, degraded_embeddings = raw_scores(degraded, repeats, threads=threads)
    np.save(data / f"teacher_degraded_s{DEGRADED_SEED}.npy", degraded_embeddings)
    plain_raw, _ = raw_scores(crops, repeats, known=teacher_embeddings(data), threads=threads)
    raw = np.concatenate([plain_raw, degraded_raw])
    label = normalise(raw)
    np.savez(cache, raw=raw, label=label, repeats=-1 if repeats is None else repeats)
    return raw, label


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data/celeba_aligned"))
    parser.add_argument("--force", action="store_true")
    parser.add_argument(
        "--repeats", type=int, default=None, help="noisy copies per face; default: the served n (exact served score)"
    )
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")


def main(args: argparse.Namespace) -> int:
    """Run the command (``python -m fiqa`` parses its arguments with ``configure``)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    raw, label = labels(args.data, args.force, args.repeats, args.threads)
    log.info("raw: min %.4f median %.4f max %.4f; %d labels", raw.min(), np.median(raw), raw.max(), len(label))
    return 0
