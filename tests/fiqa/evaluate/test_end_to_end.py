"""A tiny real run: ORL images through the gateway's detector, quality method and FR models, the report, the
plots, calibration into a (temporary) model card, and the gateway's ``/v1/models`` showing that threshold."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from fiqa.__main__ import main
from fiqa.evaluate.acquire import acquire
from fiqa.evaluate.cache import Cache
from fiqa.evaluate.datasets import load_folders
from service.runtime import Runtime

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture()
def models_dir(tmp_path, monkeypatch) -> Path:
    """A private copy of the model cards (ONNX files linked), so calibration writes no real card. Cards whose
    ONNX file is not there yet (a model still in training) are left out: the gateway would refuse to start."""
    target = tmp_path / "models"
    for card in (REPO / "models").glob("*/card.yaml"):
        stated = yaml.safe_load(card.read_text()).get("file")
        if stated and not (card.parent / stated).exists():
            continue
        (target / card.parent.name).mkdir(parents=True)
        shutil.copy(card, target / card.parent.name / "card.yaml")
        for onnx in card.parent.glob("*.onnx"):
            (target / card.parent.name / onnx.name).symlink_to(onnx)
    monkeypatch.setenv("FIQA_MODELS_DIR", str(target))
    return target


@pytest.mark.slow
def test_evaluate_writes_report_and_plots(tiny, tmp_path):
    reports, cache = tmp_path / "reports", tmp_path / "cache"
    argv = [
        "evaluate",
        "--dataset",
        f"tiny={tiny}",
        "--fr",
        "fr_feature,dlib",
        "--fmr",
        "1e-1,1e-2,1e-3",
        "--bootstrap",
        "20",
        "--bootstrap-recomputed",
        "5",
        "--cache",
        str(cache),
        "--reports",
        str(reports),
    ]
    assert main(argv) == 0
    report = json.loads((reports / "evaluation.json").read_text())
    data = report["datasets"]["tiny"]
    assert data["summary"]["samples"] == 12 and data["summary"]["mated"] == 18
    assert data["summary"]["faces_acquired"] >= 10
    for fr in ("fr_feature", "dlib"):
        qualities = data["recognition"][fr]["quality"]
        assert {"diffiqa", "random", "face_size", "det_confidence", "sharpness"} <= set(qualities)
        assert qualities["diffiqa"]["setting"] == (
            "same-recognition-model" if fr == "fr_feature" else "cross-recognition-model"
        )
        fixed = qualities["diffiqa"]["fixed"]["0.01"]
        assert set(fixed) >= {"pauc_0.2", "pauc_0.3", "auc_0.95", "fnmr_at_0_discard"}
        assert "recomputed" in qualities["random"]
        # at FMR 1e-3, every measure against diffiqa and det_confidence on the same replicates (fixed threshold)
        paired = qualities["face_size"]["fixed"]["0.001"]
        for reference in ("diffiqa", "det_confidence"):
            share = paired[f"vs_{reference}"]["pauc_0.3"]["share_lower"]
            assert share is None or 0.0 <= share <= 1.0
        assert "vs_diffiqa" not in fixed and "vs_det_confidence" in qualities["diffiqa"]["fixed"]["0.001"]
        assert "vs_diffiqa" not in qualities["face_size"]["recomputed"]["0.001"]
        # 12 images give 48 non-mated comparisons: FMR 1e-2 is below their resolution and must say so.
        assert data["recognition"][fr]["thresholds"]["0.01"]["resolved"] is False
    markdown = (reports / "evaluation.md").read_text()
    assert "pAUC@0.3, fixed threshold" in markdown and "| tiny |" in markdown
    for name in ("edc-tiny-fr_feature-fixed.png", "edc-tiny-dlib-recomputed.png", "quality-tiny.png"):
        assert (reports / name).stat().st_size > 10_000
    assert list((cache).glob("tiny-*/quality-diffiqa-*.npz")), "scores are cached for reruns"
    assert main(argv) == 0  # a rerun reads the cache and gives the same numbers
    again = json.loads((reports / "evaluation.json").read_text())["datasets"]["tiny"]
    assert again["recognition"] == data["recognition"]


def test_aligned_crops_are_taken_as_they_are(data_dir, tmp_path):
    folder = tmp_path / "aligned" / "tom"
    folder.mkdir(parents=True)
    shutil.copy(data_dir / "samples" / "Tom_Hanks_54745.png", folder / "a.png")
    runtime = Runtime.from_env(ort_intra_op_threads=1, cpu_workers=1)
    dataset = load_folders(tmp_path / "aligned")
    faces = acquire(runtime, dataset, Cache(None, dataset.name, dataset.fingerprint), aligned=True)
    assert faces.ok.all() and faces.crops.shape == (1, 112, 112, 3) and np.isnan(faces.det_score).all()
    runtime.shutdown()


@pytest.mark.slow
def test_calibrate_writes_the_card_the_gateway_serves(tiny, tmp_path, models_dir, make_client):
    reports = tmp_path / "reports"
    argv = [
        "calibrate",
        "--model",
        "diffiqa",
        "--target",
        "reject-rate=0.25",
        "--dataset",
        f"tiny={tiny}",
        "--bootstrap",
        "50",
        "--cache",
        str(tmp_path / "cache"),
        "--reports",
        str(reports),
    ]
    assert main(argv) == 0
    card = (models_dir / "diffiqa" / "card.yaml").read_text()
    assert "reject-rate=0.25 on tiny" in card
    entry = json.loads((reports / "evaluation.json").read_text())["calibration"]["diffiqa reject-rate=0.25"]
    assert entry["low"] <= entry["value"] <= entry["high"] and entry["written"]
    with make_client(models_dir=models_dir) as client:
        listed = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    served = listed["diffiqa"]["decision_threshold"]
    assert served["value"] == entry["value"] and "reject-rate=0.25 on tiny" in served["source"]
