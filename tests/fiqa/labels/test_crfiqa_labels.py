"""Offline CR-FIQA certainty ratio against a hand computation."""

from __future__ import annotations

import numpy as np
import pytest

from fiqa.labels.crfiqa import certainty_ratio


def test_certainty_ratio_hand_case() -> None:
    # two identities on orthogonal axes; sample 0 leans towards identity 1
    embeddings = np.array([[1.0, 0.5], [1.0, 0.0], [1.0, -0.2], [0.0, 1.0], [0.1, 1.0]])
    identity = np.array([7, 7, 7, 9, 9])
    cr = certainty_ratio(embeddings, identity)
    e = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    own = e[1] + e[2]  # leave-one-out centre of identity 7 for sample 0
    other = e[3] + e[4]
    ccs = e[0] @ own / np.linalg.norm(own)
    nnccs = e[0] @ other / np.linalg.norm(other)
    assert cr[0] == pytest.approx(ccs / (nnccs + 1.0), rel=1e-6)
    # the clean sample 1 is more certain than the ambiguous sample 0
    assert cr[1] > cr[0]


def test_leave_one_out_matters_and_singletons_are_kept() -> None:
    embeddings = np.random.default_rng(0).normal(size=(6, 4))
    identity = np.array([1, 1, 2, 2, 3, 4])
    with_self = certainty_ratio(embeddings, identity, leave_one_out=False)
    without = certainty_ratio(embeddings, identity)
    assert np.all(with_self[:4] > without[:4])
    assert np.allclose(with_self[4:], without[4:])  # a singleton's centre is itself either way
    assert np.all(np.isfinite(without))
