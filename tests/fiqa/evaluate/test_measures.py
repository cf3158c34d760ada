"""fiqa.evaluate.measures: the AUC and response statistics of the measures' validation, and reports/measures.md is
the rendering of reports/measures.json (the command writes both; neither is edited by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fiqa.evaluate.measures import AUC_RULE, CUE_RULE, PREPARE, TRANSFORMS, auc, render

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


def test_the_pitch_transform_foreshortens_the_top_towards_the_camera() -> None:
    """Turning the plane top towards the camera widens the top row of a square and narrows the bottom one."""
    rgb = np.zeros((101, 101, 3), np.uint8)
    rgb[20:81, 20:81] = 255
    (apply, _, measure) = TRANSFORMS["pitch (photo plane turned, top towards the camera, degrees)"]
    turned = apply(rgb, 30)[..., 0] > 127
    rows = np.flatnonzero(turned.any(axis=1))
    assert measure == "HeadPosePitch"
    assert turned[rows[0]].sum() > 61 > turned[rows[-1]].sum()
    assert rows[-1] - rows[0] < 60  # foreshortened


def test_the_markdown_is_the_reports_rendering() -> None:
    report = json.loads((REPO / "reports" / "measures.json").read_text())
    assert (REPO / "reports" / "measures.md").read_text() == render(report)
    assert all((row["auc"] >= AUC_RULE) == row["separates"] for row in report["labels"])
    assert all((row["spearman"] >= CUE_RULE) == row["agrees"] for row in report["cues"])
