"""Distillation labels: a regressor's mirror-averaged predictions over a prepared set, cached per checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fiqa.data.degrade import labelled_set
from fiqa.labels.distilled import labels, predictions
from fiqa.models import backbone
from fiqa.models.regressor import QualityRegressor
from fiqa.models.served import load_served


def checkpoint(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    model = QualityRegressor(backbone("mobilefacenet_xs")).eval()
    torch.save({"preset": "mobilefacenet_xs", "state_dict": model.state_dict()}, path)
    return path


@pytest.mark.slow
def test_labels_are_mirror_invariant_cached_and_keyed_by_checkpoint(real_faces: np.ndarray, tmp_path: Path) -> None:
    data = tmp_path / "set"
    data.mkdir()
    np.save(data / "crops112.npy", np.concatenate([real_faces, real_faces[:, :, ::-1]]))
    first = checkpoint(tmp_path / "a.pt", 0)
    got = labels(data, first)
    crops = labelled_set(data)[0]
    assert got.shape == (len(crops),) and len(crops) == 6 + 3  # the crops, then a degraded copy of half
    # each crop and its mirror get one label: the mean over both views
    np.testing.assert_allclose(got[:3], got[3:6], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got, predictions(load_served(first), crops), rtol=1e-6)
    assert len(list(data.glob("labels_distilled-*.npz"))) == 1
    np.testing.assert_array_equal(labels(data, first), got)  # from the cache
    other = labels(data, checkpoint(tmp_path / "b.pt", 1))
    assert len(list(data.glob("labels_distilled-*.npz"))) == 2 and not np.allclose(other, got)
