"""fiqa.evaluate.lfw_accuracy: the 10-fold View-2 accuracy (threshold chosen on the other folds)."""

from __future__ import annotations

import numpy as np

from fiqa.evaluate.lfw_accuracy import fold_accuracies


def test_separable_scores_are_fully_accurate_and_missing_faces_count_as_errors() -> None:
    fold = np.repeat(np.arange(1, 11), 4)
    mated = np.tile([True, True, False, False], 10)
    similarity = np.where(mated, 0.8, 0.1) + np.linspace(0, 0.05, 40)
    np.testing.assert_array_equal(fold_accuracies(similarity, mated, fold), np.ones(10))
    similarity[0] = -np.inf  # a mated pair without a face: answered "different"
    accuracies = fold_accuracies(similarity, mated, fold)
    assert accuracies[0] == 0.75 and np.all(accuracies[1:] == 1.0)


def test_threshold_comes_from_the_other_folds() -> None:
    """Fold 1 alone is shifted: a threshold fitted on folds 2..10 misjudges it, one fitted on it would not."""
    fold = np.repeat(np.arange(1, 11), 4)
    mated = np.tile([True, True, False, False], 10)
    similarity = np.where(mated, 0.6, 0.2)
    similarity[fold == 1] += 0.5  # its non-mated pairs (0.7) now look mated to the others' threshold
    accuracies = fold_accuracies(similarity, mated, fold)
    assert accuracies[0] == 0.5 and np.all(accuracies[1:] == 1.0)
