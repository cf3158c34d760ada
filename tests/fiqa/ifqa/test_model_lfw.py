"""The committed IFQA model on LFW faces (evaluation only, never training): its map is darker where a face was
damaged (blur on the eyes only, a grey box over the mouth) and its image score falls with global down-scaling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from fiqa.ifqa import evaluate

FACES = 16


@pytest.fixture(scope="module")
def scorer() -> evaluate.Scorer:
    return evaluate.Scorer()


@pytest.fixture(scope="module")
def faces(data_dir: Path) -> evaluate.AlignedFaces:
    aligned = evaluate.detect_and_align(evaluate.lfw_paths(data_dir / "lfw", FACES, seed=1))
    assert len(aligned.crops) >= FACES - 1
    return aligned


@pytest.mark.parametrize("damage", ["eyes_blur", "mouth_box"])
def test_map_is_darker_inside_the_damaged_region(scorer, faces, damage):
    """Eyes and mouth score brighter than the rest of the face when intact, so the fair comparison is against
    the same face undamaged: the damaged region must lose more map value than the rest of the face oval."""
    stats = evaluate.region_stats(scorer, faces, damage)
    assert stats["drop_inside"] > stats["drop_outside"] + 0.05
    assert stats["share_drop_inside_above_outside"] >= 0.8
    # relative to the rest of the face, the region is darker after the damage than before it
    before = stats["original_inside"] / stats["original_outside"]
    after = stats["damaged_inside"] / stats["damaged_outside"]
    assert after < before


def test_image_score_falls_with_downscaling(scorer, faces):
    levels = evaluate.DOWNSCALE_LEVELS
    scores = np.stack(
        [
            scorer.maps(np.stack([evaluate.downscale(crop, f) for crop in faces.crops])).mean(axis=(1, 2))
            for f in levels
        ],
        axis=1,
    )
    rho = spearmanr(np.tile(np.arange(len(levels)), len(scores)), scores.ravel()).statistic
    assert rho < -0.5
    assert (scores[:, -1] < scores[:, 0]).mean() >= 0.9
