"""Capture-condition variants: every condition changes the face, draws are seeded, only the chosen split is used."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fiqa.data.celeba import CelebaIndex, Detector, read_rgb
from fiqa.data.variants import APPLY, CONDITIONS, build, make_variants
from service.align import align


@pytest.fixture(scope="module")
def crop(samples: Path) -> np.ndarray:
    rgb = read_rgb(samples / "obama.jpg")
    return align(rgb, Detector().largest(rgb).landmarks).crop


@pytest.mark.parametrize("condition", CONDITIONS)
def test_each_condition_changes_the_crop_and_keeps_its_layout(crop: np.ndarray, condition: str) -> None:
    out, strength = APPLY[condition](crop, np.random.default_rng(0))
    assert out.shape == crop.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - crop).mean() > 1.0
    assert np.isfinite(strength) and strength > 0


def test_stronger_noise_moves_pixels_further(crop: np.ndarray) -> None:
    moved = []
    for seed in range(6):
        out, sigma = APPLY["noise"](crop, np.random.default_rng(seed))
        moved.append((sigma, np.abs(out.astype(int) - crop).mean()))
    moved.sort()
    assert moved[-1][1] > moved[0][1]


def test_occlusion_covers_its_stated_share(crop: np.ndarray) -> None:
    out, share = APPLY["occlusion"](crop, np.random.default_rng(3))
    changed = (out != crop).any(axis=2).mean()
    assert 0.08 * 0.7 <= share <= 0.4 * 1.3 and changed <= share + 1e-9 and changed > 0.5 * share


def test_variants_are_seeded(crop: np.ndarray) -> None:
    crops = np.stack([crop] * 12)
    first, second = make_variants(crops, seed=5), make_variants(crops, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert not np.array_equal(first[0], make_variants(crops, seed=6)[0])
    assert set(first[1].tolist()) <= set(range(len(CONDITIONS)))


def test_build_uses_only_the_training_split(crop: np.ndarray, tmp_path: Path) -> None:
    data = tmp_path / "aligned"
    data.mkdir()
    split = np.array(["train", "val", "train", "val", "train"])
    CelebaIndex(
        image=np.array([f"{i}.jpg" for i in range(5)]),
        identity=np.array([1, 2, 1, 2, 3]),
        landmarks=np.zeros((5, 5, 2), np.float32),
        det_score=np.ones(5, np.float32),
        inter_eye=np.full(5, 40, np.float32),
        split=split,
        size=np.full((5, 2), 250, np.int32),
    ).save(data / "index.npz")
    np.save(data / "crops112.npy", np.stack([crop] * 5))
    assert build(data, tmp_path / "variants", seed=0) == 3
    with np.load(tmp_path / "variants" / "variants.npz") as stored:
        assert stored["source_row"].tolist() == [0, 2, 4]
    assert np.load(tmp_path / "variants" / "crops112.npy").shape == (3, 112, 112, 3)
