"""fiqa.evaluate.measures: the AUC and response statistics of the measures' validation, and reports/measures.md is
the rendering of reports/measures.json (the command writes both; neither is edited by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fiqa.evaluate.measures import AUC_RULE, PREPARE, TRANSFORMS, auc, render

REPO = Path(__file__).resolve().parents[3]


def test_auc_counts_ties_half_and_ignores_nan() -> None:
    assert auc(np.array([3.0, 2.0, np.nan]), np.array([1.0])) == 1.0
    assert auc(np.array([1.0]), np.array([1.0, 2.0])) == 0.25


def test_every_transform_gets_worse_with_strength() -> None:
    rgb = np.full((64, 64, 3), 128, np.uint8)
    rgb[16:48, 16:48] = 200
    # what PREPARE adds for the transforms that read more than the photo (a person mask, the distance from the eye
    # line): here a ramp down the rows
    ramp = np.broadcast_to((np.arange(64, dtype=np.uint8) * 4)[:, None], (64, 64))
    for name, (apply, strengths, _) in TRANSFORMS.items():
        photo = np.dstack([rgb, ramp]) if name in PREPARE else rgb
        first = apply(photo, strengths[0])
        assert first.dtype == np.uint8 and first.shape == rgb.shape, name
        assert not np.array_equal(apply(photo, strengths[-1]), first), name


def test_the_markdown_is_the_reports_rendering() -> None:
    report = json.loads((REPO / "reports" / "measures.json").read_text())
    assert (REPO / "reports" / "measures.md").read_text() == render(report)
    assert all((row["auc"] >= AUC_RULE) == row["separates"] for row in report["labels"])
