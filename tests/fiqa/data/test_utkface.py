"""UTKFace preparation on UTKFace-like tight crops made from LFW photos: detection, padding share, index, misses."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fiqa.data.celeba import Detector, read_rgb
from fiqa.data.utkface import attributes, prepare

LFW_PHOTOS = ("Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "AJ_Lamas/AJ_Lamas_0001.jpg")
NAMES = ("25_0_1_20170116174525125.jpg.chip.jpg", "61_1_3_20170109142408075.jpg.chip.jpg")


def tight_crop(rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The face box (a little taller, as UTKFace's chips are) resized to UTKFace's 200x200."""
    x1, y1, x2, y2 = box
    pad = 0.1 * (y2 - y1)
    x1, x2 = max(0, round(x1)), min(rgb.shape[1], round(x2))
    y1, y2 = max(0, round(y1 - pad)), min(rgb.shape[0], round(y2 + pad))
    return cv2.resize(np.ascontiguousarray(rgb[y1:y2, x1:x2]), (200, 200), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    src = tmp_path_factory.mktemp("utkface")
    detector = Detector()
    for photo, name in zip(LFW_PHOTOS, NAMES, strict=True):
        rgb = read_rgb(data_dir / "lfw" / "images" / photo)
        chip = tight_crop(rgb, detector.largest(rgb).box)
        cv2.imwrite(str(src / name), cv2.cvtColor(chip, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(src / "30_1_0_blank.jpg.chip.jpg"), np.full((200, 200, 3), 128, np.uint8))
    out = src / "aligned"
    assert prepare(src, out) == 2
    return out


def test_tight_crops_are_aligned_with_black_padding(prepared: Path) -> None:
    crops = np.load(prepared / "crops112.npy")
    with np.load(prepared / "index.npz") as index:
        assert index["image"].tolist() == sorted(NAMES)
        assert index["landmarks"].shape == (2, 5, 2) and (index["det_score"] > 0.2).all()
        share = index["out_of_frame"]
        assert index["age"].tolist() == [25, 61] and index["race"].tolist() == [1, 3]
    assert crops.shape == (2, 112, 112, 3) and crops.dtype == np.uint8 and crops.std() > 20
    # the ArcFace template shows more than a tight crop holds: part of every crop comes from outside the photo
    assert ((share > 0.05) & (share < 0.7)).all()
    black = (crops.max(axis=3) == 0).mean(axis=(1, 2))
    assert (black > 0.3 * share).all()


def test_photos_without_a_face_are_counted_and_skipped(prepared: Path) -> None:
    assert (prepared / "missed.txt").read_text().split() == ["30_1_0_blank.jpg.chip.jpg"]


def test_attributes_tolerate_malformed_names() -> None:
    assert attributes("39_1_20170116174525125.jpg.chip.jpg") == (39, 1, -1)
    assert attributes("1_0_.jpg.chip.jpg") == (1, 0, -1)
    assert attributes("x.jpg") == (-1, -1, -1)
