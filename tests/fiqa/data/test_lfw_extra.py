"""Full-LFW extra set: every person ``pairs.txt`` names is left out; the rest is detected and aligned."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from fiqa.data.lfw_extra import benchmark_identities, extra_photos, prepare

PAIRS = "2\t1\nAnna_A\t1\t2\nBen_B\t1\tCara_C\t1\n"


@pytest.fixture()
def lfw(tmp_path: Path, samples: Path) -> tuple[Path, Path]:
    """A miniature full-LFW tree: Anna, Ben and Cara are benchmark people, Dan and Eve are not."""
    images = tmp_path / "images"
    photos = {"Anna_A": "obama.jpg", "Ben_B": "obama2.jpg", "Cara_C": "biden.jpg", "Dan_D": "obama3.jpg"}
    photos |= {"Eve_E": "grace_hopper_512x512.jpg"}
    for person, photo in photos.items():
        (images / person).mkdir(parents=True)
        shutil.copy(samples / photo, images / person / f"{person}_0001.jpg")
    shutil.copy(samples / "obama.jpg", images / "Dan_D" / "Dan_D_0002.jpg")
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(PAIRS)
    return images, pairs


def test_benchmark_identities_cover_mated_and_non_mated_lines(lfw: tuple[Path, Path]) -> None:
    assert benchmark_identities(lfw[1]) == {"Anna_A", "Ben_B", "Cara_C"}


def test_only_people_outside_the_benchmark_are_kept(lfw: tuple[Path, Path], tmp_path: Path) -> None:
    images, pairs = lfw
    photos = extra_photos(images, benchmark_identities(pairs))
    assert [f"{p.parent.name}/{p.name}" for p in photos] == [
        "Dan_D/Dan_D_0001.jpg",
        "Dan_D/Dan_D_0002.jpg",
        "Eve_E/Eve_E_0001.jpg",
    ]
    out = tmp_path / "aligned"
    assert prepare(images, pairs, out) == 3
    with np.load(out / "index.npz") as index:
        assert [str(name).split("/")[0] for name in index["image"]] == ["Dan_D", "Dan_D", "Eve_E"]
        assert index["landmarks"].shape == (3, 5, 2) and (index["det_score"] > 0.5).all()
    crops = np.load(out / "crops112.npy")
    assert crops.shape == (3, 112, 112, 3) and crops.dtype == np.uint8 and crops.std() > 20


def test_an_empty_pairs_file_is_refused(lfw: tuple[Path, Path], tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("10\t300\n")
    with pytest.raises(ValueError, match="names no identity"):
        prepare(lfw[0], empty, tmp_path / "out")
