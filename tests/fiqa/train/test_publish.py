"""The model card's evaluation figures come from the evaluation report, per recognition model."""

from __future__ import annotations

import json
from pathlib import Path

from fiqa.train.publish import evaluation_metrics


def area(value: float) -> dict:
    return {"value": value, "low": value - 0.1, "high": value + 0.1, "replicates": 500.0}


def quality(value: float) -> dict:
    return {"fixed": {"0.001": {"pauc_0.2": area(value), "pauc_0.3": area(value - 0.05)}}}


def test_card_metrics_quote_the_model_beside_diffiqa_and_face_size(tmp_path: Path) -> None:
    report = {
        "datasets": {
            "lfw": {
                "recognition": {
                    "dlib": {"quality": {"m": quality(0.8), "diffiqa": quality(0.7), "face_size": quality(0.9)}},
                    "other": {"quality": {"diffiqa": quality(0.6)}},  # the model was not evaluated with this one
                }
            }
        }
    }
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps(report))
    metrics = evaluation_metrics(path, "m")
    assert metrics == {
        "lfw_view2_pauc_fmr1e-3_discard0.2_dlib": "0.800 [0.700, 0.900] (diffiqa 0.700, face_size 0.900)",
        "lfw_view2_pauc_fmr1e-3_discard0.3_dlib": "0.750 [0.650, 0.850] (diffiqa 0.650, face_size 0.850)",
    }
    assert evaluation_metrics(path, "absent") == {}
