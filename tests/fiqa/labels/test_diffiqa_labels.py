"""DifFIQA labels reuse the gateway's scorer: the estimate equals it at the served n and is close at n=1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fiqa.data.celeba import Detector, read_rgb
from fiqa.data.embed import Embedder
from fiqa.labels.diffiqa import analytic_scorer, normalise, raw_scores, served_estimate
from service.align import align


@pytest.fixture(scope="module")
def crops(samples: Path) -> np.ndarray:
    detector = Detector()
    faces = []
    for name in ("obama.jpg", "biden.jpg"):
        rgb = read_rgb(samples / name)
        faces.append(align(rgb, detector.largest(rgb).landmarks).crop)
    return np.stack(faces)


def test_served_estimate_reproduces_the_gateway_score(crops: np.ndarray) -> None:
    scorer, backend, served = analytic_scorer()
    inputs = scorer.prepare(crops)
    outputs = {name: backend.infer_sync(name, tensors) for name, tensors in inputs.items()}
    gateway = scorer.postprocess(outputs, len(crops))
    embeddings = outputs["fr_feature"]["output"].astype(np.float64).reshape(len(crops), scorer.copies, -1)
    embeddings /= np.linalg.norm(embeddings, axis=2, keepdims=True)
    cosines = np.einsum("fd,fkd->fk", embeddings[:, 0], embeddings[:, 1:])
    assert np.allclose(served_estimate(cosines, served, served), gateway, atol=1e-12)
    cheap, _ = raw_scores(crops, repeats=1)
    assert np.allclose(cheap, gateway, atol=0.02)


def test_known_embeddings_give_the_same_labels(crops: np.ndarray) -> None:
    embed = Embedder()
    known = embed(crops), embed(np.ascontiguousarray(crops[:, :, ::-1]))
    full, plain = raw_scores(crops)
    reused, _ = raw_scores(crops, known=known)
    assert np.allclose(full, reused, atol=1e-6)
    assert np.allclose(plain, known[0], atol=1e-5)


def test_normalise() -> None:
    assert np.allclose(normalise(np.array([0.8, 0.9, 1.0])), [0.0, 0.5, 1.0])
    assert np.allclose(normalise(np.array([0.7, 1.1]), 0.8, 1.0), [0.0, 1.0])
