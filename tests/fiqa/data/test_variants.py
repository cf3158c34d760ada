"""Capture-condition variants: every condition changes the face, draws are seeded, only the chosen split is used."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fiqa.data.celeba import CelebaIndex, Detector, read_rgb
from fiqa.data.variants import (
    APPLY,
    CONDITIONS,
    OUT_OF_FRAME_SHARE,
    build,
    build_out_of_frame,
    make_variants,
    out_of_frame,
)
from service.align import align


@pytest.fixture(scope="module")
def crop(samples: Path) -> np.ndarray:
    rgb = read_rgb(samples / "obama.jpg")
    return align(rgb, Detector().largest(rgb).landmarks).crop


@pytest.fixture()
def prepared(crop: np.ndarray, tmp_path: Path) -> Path:
    """A five-photo prepared set: rows 0, 2, 4 training, 1 and 3 validation."""
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
    return data


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


def test_out_of_frame_blackens_its_stated_share_from_the_border(crop: np.ndarray) -> None:
    bright = np.maximum(crop, 40)  # no black of its own, so every black pixel is padding
    for seed in range(20):
        out, share = out_of_frame(bright, np.random.default_rng(seed))
        assert out.shape == crop.shape and out.dtype == np.uint8
        assert OUT_OF_FRAME_SHARE[0] * 0.8 <= share <= OUT_OF_FRAME_SHARE[1] * 1.05
        black = out.max(axis=2) == 0
        assert abs(black.mean() - share) < 0.03
        border = np.concatenate([black[0], black[-1], black[:, 0], black[:, -1]])
        assert border.any()  # the band comes in from the edge of the crop, as warpAffine's border does
        # beyond the band's soft edge nothing changes (where the edge meets the crop's border, the black may lie
        # just outside the crop: a two-pixel ring is left out)
        near = cv2.dilate(black.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        near[:2] = near[-2:] = near[:, :2] = near[:, -2:] = True
        assert np.array_equal(out[~near], bright[~near])


def test_out_of_frame_is_seeded(crop: np.ndarray) -> None:
    first, second = out_of_frame(crop, np.random.default_rng(7)), out_of_frame(crop, np.random.default_rng(7))
    assert np.array_equal(first[0], second[0]) and first[1] == second[1]
    assert not np.array_equal(first[0], out_of_frame(crop, np.random.default_rng(8))[0])


def test_build_out_of_frame_draws_a_seeded_training_subset(prepared: Path, tmp_path: Path) -> None:
    assert build_out_of_frame(prepared, tmp_path / "a", seed=0, count=2) == 2
    build_out_of_frame(prepared, tmp_path / "b", seed=0, count=2)
    with np.load(tmp_path / "a" / "variants.npz") as stored:
        assert set(stored["source_row"].tolist()) <= {0, 2, 4} and len(stored["source_row"]) == 2
        assert ((stored["strength"] > 0.04) & (stored["strength"] < 0.65)).all()
    assert np.array_equal(np.load(tmp_path / "a" / "crops112.npy"), np.load(tmp_path / "b" / "crops112.npy"))


def test_build_uses_only_the_training_split(prepared: Path, tmp_path: Path) -> None:
    assert build(prepared, tmp_path / "variants", seed=0) == 3
    with np.load(tmp_path / "variants" / "variants.npz") as stored:
        assert stored["source_row"].tolist() == [0, 2, 4]
    assert np.load(tmp_path / "variants" / "crops112.npy").shape == (3, 112, 112, 3)
