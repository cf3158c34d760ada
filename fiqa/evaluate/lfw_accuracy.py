"""``python -m fiqa lfw-accuracy --model NAME``: LFW View-2 verification accuracy of face-recognition models.

The standard unrestricted protocol: 10 folds of 300 mated + 300 non-mated pairs; for each fold the cosine
threshold that maximises accuracy on the other nine is applied to it; the figure is the mean (and standard
deviation) of the ten fold accuracies. Faces are the service's own (CenterFace, largest face, ArcFace crop) and
each model gets them through its card's preprocessing (``OnnxRecognizer``). A pair with a photo where no face
was found counts as a wrong answer. ``--write-card`` records the figure in the model card's metrics.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from fiqa.data.runtime import offline_runtime
from fiqa.evaluate.acquire import acquire, faces_tag
from fiqa.evaluate.cache import Cache
from fiqa.evaluate.datasets import Dataset, load_lfw_pairs
from fiqa.evaluate.recognition import embeddings, recognizers
from fiqa.evaluate.run import REPO
from service.registry import update_card
from service.runtime import Runtime

log = logging.getLogger(__name__)
LFW = REPO.parent / "shared" / "data" / "lfw"
METRIC = "lfw_view2_accuracy"


def fold_accuracies(similarity: np.ndarray, mated: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Accuracy of each fold at the threshold that is best on the other folds (NaN similarity = wrong answer)."""
    out = []
    for k in np.unique(fold):
        train, test = fold != k, fold == k
        scores = np.unique(similarity[train][np.isfinite(similarity[train])])
        # midway between neighbouring training scores, so that no test score is decided by a tie
        candidates = np.concatenate([[-np.inf], (scores[1:] + scores[:-1]) / 2, [np.inf]])
        # accuracy on the training folds for "mated iff similarity >= t", every candidate t at once
        correct = [np.sum((similarity[train] >= t) == mated[train]) for t in candidates]
        threshold = candidates[int(np.argmax(correct))]
        out.append(np.mean((similarity[test] >= threshold) == mated[test]))
    return np.asarray(out)


def lfw_accuracy(runtime: Runtime, dataset: Dataset, cache: Cache, name: str) -> tuple[np.ndarray, int]:
    """(fold accuracies, pairs without a face) of one card's FR network on LFW View-2."""
    if dataset.fold is None:
        raise ValueError(f"{dataset.name}: not a folded pairs protocol")
    faces = acquire(runtime, dataset, cache, needed=dataset.needed)
    [recognizer] = recognizers(runtime, [name])
    vectors = embeddings(recognizer, dataset, faces, cache, faces_tag(runtime, False))
    similarity = recognizer.similarity(vectors[dataset.first], vectors[dataset.second])
    missing = int(np.sum(~np.isfinite(similarity)))
    similarity = np.where(np.isfinite(similarity), similarity, -np.inf)
    return fold_accuracies(similarity, dataset.mated, dataset.fold), missing


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="face-recognition card name(s), comma-separated")
    parser.add_argument("--pairs", type=Path, default=LFW / "pairs.txt", help="LFW View-2 pairs.txt")
    parser.add_argument("--cache", type=Path, default=REPO / "data" / "cache")
    parser.add_argument("--write-card", action="store_true", help=f"record the figure as metrics.{METRIC}")


def main(args: argparse.Namespace) -> int:
    runtime = offline_runtime(ort_intra_op_threads=1, cpu_workers=1)
    dataset = load_lfw_pairs(args.pairs)
    cache = Cache(args.cache, dataset.name, dataset.fingerprint)
    for name in args.model.split(","):
        accuracies, missing = lfw_accuracy(runtime, dataset, cache, name)
        card = runtime.registry[name].preprocess
        assert card is not None
        figure = (
            f"{100 * accuracies.mean():.2f} % ± {100 * accuracies.std():.2f} (LFW View-2, 10 folds, threshold from "
            f"the other 9; CenterFace + ArcFace crop, {card.crop_size}x{card.crop_size} {card.channel_order} "
            f"{card.layout}; {missing} of {len(dataset.mated)} pairs without a face count as errors; python -m fiqa "
            f"lfw-accuracy --model {name})"
        )
        print(f"{name}: {figure}")
        if args.write_card:
            update_card(runtime.registry.models_dir / name / "card.yaml", "metrics", {METRIC: figure})
    runtime.shutdown()
    return 0
