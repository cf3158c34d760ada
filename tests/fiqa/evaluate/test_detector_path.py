"""fiqa.evaluate.detector_path (``python -m fiqa detector-validity``): a tiny real run and its parts."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fiqa.__main__ import main
from fiqa.evaluate.acquire import Acquired
from fiqa.evaluate.datasets import load_folders
from fiqa.evaluate.detector_path import FULL, SERVED, agreement, in_capture_frames, verdict
from fiqa.evaluate.quality import QualityScores


def test_capture_frames_keep_samples_and_comparisons(tiny: Path) -> None:
    dataset = load_folders(tiny)
    framed = in_capture_frames(dataset, (320, 240))
    assert [s.identity for s in framed.samples] == [s.identity for s in dataset.samples]
    assert np.array_equal(framed.first, dataset.first) and np.array_equal(framed.mated, dataset.mated)
    assert framed.samples[0].key == f"{dataset.samples[0].key}@320x240" and framed.name.endswith("-320x240")
    assert framed.fingerprint != dataset.fingerprint  # its own cache entries
    with Image.open(io.BytesIO(framed.samples[0].load())) as image:
        assert (image.format, image.size) == ("JPEG", (320, 240))


def acquired(landmarks: np.ndarray, ok: list[bool]) -> Acquired:
    count = len(ok)
    return Acquired(
        ok=np.array(ok),
        crops=np.zeros((count, 1, 1, 3), np.uint8),
        boxes=np.zeros((count, 4)),
        landmarks=landmarks,
        det_score=np.ones(count),
        inter_eye=np.full(count, 10.0),
        out_of_frame=np.zeros(count),
        faces_detected=np.ones(count, np.int64),
    )


def test_agreement_compares_only_faces_both_paths_found_and_scored() -> None:
    base = np.zeros((3, 5, 2))
    full = acquired(base, [True, True, True])
    served = acquired(base + np.array([1.0, 0.0]), [True, True, False])  # 1 px off: 0.1 inter-eye distances
    scores = (
        QualityScores(FULL, "model", np.zeros(3), np.array([40.0, 60.0, 70.0]), None),
        QualityScores(SERVED, "model", np.zeros(3), np.array([44.0, 58.0, np.nan]), None),
    )
    row = agreement(full, served, scores, threshold=50.0)
    assert (row["faces full path"], row["faces served path"], row["faces both"], row["faces scored by both"]) == (
        3,
        2,
        2,
        2,
    )
    assert row["landmarks mean (IOD)"] == pytest.approx(0.1)
    assert row["score change mean"] == pytest.approx(3.0) and row["score shift mean"] == pytest.approx(1.0)
    assert row["decisions changed"] == 0.0  # 40 -> 44 stays below 50, 60 -> 58 stays above


def test_the_verdict_names_every_interval_that_excludes_zero() -> None:
    row = {"recognition": "fr_feature", "pAUC upper": 0.2, "served − full": 0.01, "within the noise": True}
    assert verdict([{"name": "lfw", "paired": [row]}]).startswith("Every paired interval holds 0")
    outside = {**row, "served − full": 0.05, "within the noise": False}
    text = verdict([{"name": "lfw", "paired": [row, outside]}])
    assert text.startswith("Not every") and "lfw / fr_feature / pAUC@0.2 (+0.05)" in text


@pytest.mark.slow
def test_a_tiny_run_writes_both_frame_sets(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "detector_validity.json"
    argv = ["detector-validity", "--dataset", f"tiny={tiny}", "--fr", "fr_feature", "--bootstrap", "10"]
    assert main([*argv, "--cache", str(tmp_path / "cache"), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["paths"]["full"] == "full (640 px)" and report["paths"]["served"].startswith("fast")
    as_they_are, framed = report["sets"]
    assert (as_they_are["name"], framed["name"]) == ("tiny", "tiny-640x480")
    # ORL images (92x112) are smaller than the coarse side: both paths run the same single pass on them
    assert as_they_are["agreement"]["faces both"] == 12 and as_they_are["agreement"]["score change mean"] == 0.0
    # in a capture frame the served path takes its two small passes: close to the full path, not identical
    assert framed["agreement"]["faces both"] == 12
    assert 0.0 < framed["agreement"]["landmarks mean (IOD)"] < 0.15
    for frame_set in report["sets"]:
        assert [row["pAUC upper"] for row in frame_set["paired"]] == [0.2, 0.3]
        assert {row["recognition"] for row in frame_set["paired"]} == {"fr_feature"}
    markdown = out.with_suffix(".md").read_text()
    assert "## `tiny-640x480`" in markdown and report["verdict"] in markdown
