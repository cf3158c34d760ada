"""CR-FIQA certainty ratio labels: CR = CCS / (NNCCS + 1 + ε).

CCS is a sample's cosine to its own class centre, NNCCS its largest cosine to any other class centre. During
margin-softmax training the centres are the head's weights (``fiqa.losses.certainty_ratio``, what ViT-FIQA
regresses online). Offline, for a fixed recognition model, the centres are the normalised mean embeddings of
each identity — leaving the sample itself out of its own centre so a single photo does not vouch for itself.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-9


def identity_centres(embeddings: np.ndarray, identity: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(classes, per-class sums of L2-normalised embeddings, per-class counts)."""
    classes, inverse = np.unique(identity, return_inverse=True)
    sums = np.zeros((len(classes), embeddings.shape[1]))
    np.add.at(sums, inverse, embeddings)
    return classes, sums, np.bincount(inverse, minlength=len(classes))


def certainty_ratio(embeddings: np.ndarray, identity: np.ndarray, leave_one_out: bool = True) -> np.ndarray:
    """CR of every sample against the identity centres of the same set (embeddings (N, D), identity (N,))."""
    embeddings = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    classes, sums, counts = identity_centres(embeddings, identity)
    own = np.searchsorted(classes, identity)
    centres = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    cosines = embeddings @ centres.T
    own_centre = sums[own] - (embeddings if leave_one_out else 0) * (counts[own] > 1)[:, None]
    own_centre /= np.maximum(np.linalg.norm(own_centre, axis=1, keepdims=True), 1e-12)
    ccs = np.einsum("nd,nd->n", embeddings, own_centre)
    cosines[np.arange(len(embeddings)), own] = -np.inf
    return ccs / (cosines.max(axis=1) + 1.0 + EPS)
