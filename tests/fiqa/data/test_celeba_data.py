"""CelebA preparation on a few sample photos: detection, index, crops, identity split, re-cropping."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from fiqa.data.celeba import (
    CelebaIndex,
    Detector,
    margin_transform,
    photo_folder,
    prepare,
    read_rgb,
    recrop,
    split_identities,
)
from service.align import align


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, samples: Path) -> Path:
    src = tmp_path_factory.mktemp("celeba")
    (src / "Celeb").mkdir()
    names = {"obama.jpg": 1, "obama2.jpg": 1, "biden.jpg": 2, "grace_hopper_512x512.jpg": 3}
    for name in names:
        shutil.copy(samples / name, src / "Celeb" / name)
    lines = ["image identity", *(f"{name} {identity}" for name, identity in names.items()), "absent.jpg 9"]
    (src / "identity_CelebA.txt").write_text("\n".join(lines) + "\n")
    out = src / "aligned"
    prepare(src, out, val_fraction=0.34, seed=0)
    return out


def test_index_and_crops(prepared: Path) -> None:
    index = CelebaIndex.load(prepared / "index.npz")
    crops = np.load(prepared / "crops112.npy")
    assert sorted(index.image.tolist()) == sorted(["obama.jpg", "obama2.jpg", "biden.jpg", "grace_hopper_512x512.jpg"])
    assert crops.shape == (4, 112, 112, 3) and crops.dtype == np.uint8
    assert index.landmarks.shape == (4, 5, 2)
    assert np.all(index.det_score > 0.5) and np.all(index.inter_eye > 10)
    obama = list(index.image).index("obama.jpg")
    assert index.identity[obama] == 1
    # identities never straddle the split
    for identity in np.unique(index.identity):
        assert len(set(index.split[index.identity == identity])) == 1


def test_split_is_seeded_and_identity_disjoint() -> None:
    identities = np.repeat(np.arange(50), 3)
    first, again = split_identities(identities, 0.2, seed=3), split_identities(identities, 0.2, seed=3)
    assert np.array_equal(first, again)
    assert len(np.unique(identities[first == "val"])) == 10
    assert not set(identities[first == "val"]) & set(identities[first == "train"])


def test_recrop_matches_align_and_margin_maps_landmarks(prepared: Path, samples: Path) -> None:
    index = CelebaIndex.load(prepared / "index.npz")
    row = list(index.image).index("obama.jpg")
    rgb = read_rgb(samples / "obama.jpg")
    crops = np.load(prepared / "crops112.npy")
    assert np.array_equal(recrop(rgb, index.landmarks[row], 112, 0.0), crops[row])
    wide = recrop(rgb, index.landmarks[row], 128, margin=0.1)
    assert wide.shape == (128, 128, 3)
    # the landmarks land on the 112 template scaled into the inner 102.4 px square, offset by 12.8 px
    transform = align(rgb, index.landmarks[row]).transform
    inner = np.c_[index.landmarks[row], np.ones(5)] @ transform.T
    outer = np.c_[index.landmarks[row], np.ones(5)] @ margin_transform(transform, 128, 0.1).T
    assert np.allclose(outer, inner * (102.4 / 112) + 12.8, atol=1e-4)


def test_detector_finds_the_largest_face(samples: Path) -> None:
    rgb = read_rgb(samples / "t1.jpg")
    face = Detector().largest(rgb)
    assert face is not None and face.score > 0.5


def test_photos_are_read_from_src_celeb_or_from_src_itself(tmp_path: Path) -> None:
    assert photo_folder(tmp_path) == tmp_path  # photos copied out flat, as the shared data folder has them
    (tmp_path / "Celeb").mkdir()
    assert photo_folder(tmp_path) == tmp_path / "Celeb"  # the fetched repository's layout
