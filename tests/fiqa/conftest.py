"""Fixtures shared by the training-package tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fiqa.data.celeba import Detector, read_rgb
from service.align import align


@pytest.fixture(scope="session")
def real_faces(samples: Path) -> np.ndarray:
    """Three ArcFace-aligned 112x112 RGB crops of real sample photos (the detector's largest face each)."""
    detector = Detector()
    crops = []
    for name in ("obama.jpg", "biden.jpg", "grace_hopper_512x512.jpg"):
        rgb = read_rgb(samples / name)
        crops.append(align(rgb, detector.largest(rgb).landmarks).crop)
    return np.stack(crops)
