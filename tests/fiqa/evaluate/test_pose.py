"""Yaw index from landmarks and the per-pose summary of quality measures."""

from __future__ import annotations

import numpy as np
import pytest

from fiqa.evaluate.acquire import Acquired
from fiqa.evaluate.datasets import Sample, from_samples
from fiqa.evaluate.pose import BANDS, TURNED, band_names, by_pose, pitch_index, turned_subset, yaw_index
from fiqa.evaluate.quality import QualityScores

# ArcFace 112x112 template: a frontal face's five landmarks.
FRONTAL = np.array([[38.29, 51.70], [73.53, 51.50], [56.03, 71.74], [41.55, 92.37], [70.73, 92.20]])


def turned(shift: float) -> np.ndarray:
    """The template with the nose moved along the eye axis by ``shift`` inter-eye distances (a yawed face)."""
    points = FRONTAL.copy()
    points[2, 0] += shift * np.linalg.norm(points[1] - points[0])
    return points


def rigid(points: np.ndarray, angle: float, scale: float, offset: tuple[float, float]) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return scale * points @ np.array([[c, -s], [s, c]]).T + np.asarray(offset)


def test_yaw_index_is_zero_for_frontal_and_grows_with_the_nose_offset() -> None:
    yaw = yaw_index(np.stack([FRONTAL, turned(0.15), turned(-0.15), turned(0.4)]))
    assert yaw[0] < 0.01
    assert yaw[1] == pytest.approx(yaw[2], abs=0.02)
    assert yaw[1] == pytest.approx(0.15, abs=0.02)
    assert yaw[3] == pytest.approx(0.4, abs=0.02)


def test_yaw_index_ignores_roll_scale_and_position() -> None:
    base = turned(0.25)
    moved = rigid(base, angle=0.5, scale=3.7, offset=(400.0, -20.0))
    assert yaw_index(moved[None])[0] == pytest.approx(yaw_index(base[None])[0], abs=1e-9)


def nodded(drop: float) -> np.ndarray:
    """The template with the nose moved towards the mouth by ``drop`` eye-to-mouth distances (a face tilting down)."""
    points = FRONTAL.copy()
    points[2, 1] += drop * (points[3:, 1].mean() - points[:2, 1].mean())
    return points


def test_pitch_index_grows_as_the_nose_drops_and_ignores_roll_scale_and_position() -> None:
    index = pitch_index(np.stack([nodded(-0.2), FRONTAL, nodded(0.2)]))
    assert index[0] < index[1] < index[2]
    assert index[2] - index[1] == pytest.approx(0.2, abs=0.01)
    moved = rigid(nodded(0.1), angle=-0.7, scale=0.4, offset=(12.0, 300.0))
    assert pitch_index(moved[None])[0] == pytest.approx(pitch_index(nodded(0.1)[None])[0], abs=1e-9)


def acquired(landmarks: np.ndarray) -> Acquired:
    n = len(landmarks)
    return Acquired(
        ok=np.ones(n, dtype=bool),
        crops=np.zeros((n, 2, 2, 3), dtype=np.uint8),
        boxes=np.zeros((n, 4)),
        landmarks=landmarks,
        det_score=np.ones(n),
        inter_eye=np.full(n, 35.0),
        out_of_frame=np.zeros(n, dtype=bool),
        faces_detected=np.ones(n, dtype=int),
    )


def test_a_pose_aware_measure_discards_turned_faces_and_a_blind_one_does_not() -> None:
    rng = np.random.default_rng(0)
    shifts = rng.uniform(0.0, 0.5, 400)
    faces = acquired(np.stack([turned(v) for v in shifts]))
    aware = 1.0 - shifts + rng.normal(0, 0.02, shifts.size)
    blind = rng.random(shifts.size)
    qualities = [
        QualityScores("aware", "model", aware, aware * 100, None),
        QualityScores("blind", "baseline", blind, None, None),
    ]
    table = by_pose(faces, qualities, np.ones(shifts.size, dtype=bool))
    assert table is not None
    assert list(table["bands"]) == band_names()
    assert sum(entry["faces"] for entry in table["bands"].values()) == shifts.size
    assert table["spearman_with_yaw"]["aware"] < -0.9
    assert abs(table["spearman_with_yaw"]["blind"]) < 0.15
    frontal, most_turned = table["bands"][band_names()[0]], table["bands"][band_names()[-1]]
    assert frontal["aware"]["discarded"] == 0.0
    # every face the aware measure discards (the 10 % most turned) lies in the most-turned band
    assert most_turned["aware"]["discarded"] * most_turned["faces"] == pytest.approx(table["discard"] * shifts.size)
    assert frontal["aware"]["median"] > most_turned["aware"]["median"]
    # the model's median is on its 0..100 score, the baseline's on its raw value
    assert frontal["aware"]["median"] > 1.0 >= frontal["blind"]["median"]


def test_faces_without_landmarks_give_no_table() -> None:
    faces = acquired(np.full((20, 5, 2), np.nan))
    scores = QualityScores("q", "baseline", np.ones(20), None, None)
    assert by_pose(faces, [scores], np.ones(20, dtype=bool)) is None
    assert len(band_names()) == len(BANDS) + 1


def test_pose_set_keeps_the_comparisons_that_hold_a_turned_face() -> None:
    shifts = np.array([0.0, 0.05, 0.45, 0.0, 0.35, 0.1])  # samples 2 and 4 are turned
    samples = [Sample(f"k{i}", f"p{i // 2}", bytes) for i in range(shifts.size)]
    dataset = from_samples("set", samples)
    pose = turned_subset(dataset, acquired(np.stack([turned(v) for v in shifts])))
    assert pose.name == "set-pose" and pose.cache_name == "set" and f">= {TURNED:g}" in pose.protocol
    kept = set(zip(pose.first.tolist(), pose.second.tolist(), strict=True))
    expected = {(i, j) for i, j in zip(dataset.first.tolist(), dataset.second.tolist(), strict=True) if {i, j} & {2, 4}}
    assert kept == expected and pose.mated.sum() == 2  # (2, 3) and (4, 5)
