"""Every collector the gateway exports moves exactly with the work done (in-process app, real models)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
from prometheus_client import REGISTRY

from service import metrics


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _snapshot() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every fiqa_ sample value now, keyed by (name, labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in REGISTRY.collect()
        if family.name.startswith("fiqa_")
        for sample in family.samples
    }


def test_every_metric_moves_with_the_work_done(client, samples: Path) -> None:
    bodies = [
        ((samples / "obama.jpg").read_bytes(), "image/jpeg"),
        ((samples / "biden.jpg").read_bytes(), "image/jpeg"),
        ((samples / "t1.jpg").read_bytes(), "image/jpeg"),
        ((samples / "no_face_cat.png").read_bytes(), "image/png"),
    ]
    settings = client.app.state.settings
    before = _snapshot()
    started = time.perf_counter()
    answers = [client.post("/score", content=body, headers={"content-type": kind}) for body, kind in bodies]
    wall = time.perf_counter() - started
    bad = client.post("/score", content=b"not an image at all", headers={"content-type": "image/jpeg"})
    client.get("/healthz")
    after = _snapshot()

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert [answer.status_code for answer in answers] == [200] * 4 and bad.status_code == 400
    images = [answer.json()["images"][0] for answer in answers]
    faces = [face for image in images for face in image["faces"]]
    assessed = [face for face in faces if face["quality"]["score"] != -1]
    assert len(faces) >= 8 and assessed  # two portraits, six people in t1.jpg

    # HTTP: one count per request, by route and status; latency sums bounded by the wall time they took.
    assert delta("fiqa_http_requests_total", route="/score", method="POST", status="200") == 4
    assert delta("fiqa_http_requests_total", route="/score", method="POST", status="400") == 1
    assert delta("fiqa_http_requests_total", route="/healthz", method="GET", status="200") == 1
    assert delta("fiqa_http_request_duration_seconds_count", route="/score", status="200") == 4
    assert 0 < delta("fiqa_http_request_duration_seconds_sum", route="/score", status="200") <= wall
    # Pipeline stages: observed once per answered request; their total no more than the HTTP time.
    for stage in ("decode", "detect", "align", "decide", "total"):
        assert delta("fiqa_stage_duration_seconds_count", stage=stage) == 4, stage
    assert delta("fiqa_stage_duration_seconds_count", stage="quality_infer") == 3  # the no-face image runs no model
    stage_total = delta("fiqa_stage_duration_seconds_sum", stage="total")
    assert 0 < stage_total <= delta("fiqa_http_request_duration_seconds_sum", route="/score", status="200")
    # Images, faces and decisions.
    assert delta("fiqa_images_total", status="ok") == 4
    assert delta("fiqa_images_total", status="error") == 1
    assert delta("fiqa_faces_per_image_count") == 4
    assert delta("fiqa_faces_per_image_sum") == sum(image["faces_detected"] for image in images)
    expected = Counter((face["decision"], reason) for face in faces for reason in face["reasons"] or ["none"])
    for (decision, reason), count in expected.items():
        assert delta("fiqa_decisions_total", decision=decision, reason=reason) == count, (decision, reason)
    moved = {key for key in after if key[0] == "fiqa_decisions_total" and after[key] != before.get(key, 0.0)}
    assert len(moved) == len(expected)  # no decision series moved that the answers do not show
    if hasattr(metrics, "IMAGE_DECISIONS"):
        per_image = Counter((image["decision"], reason) for image in images for reason in image["reasons"] or ["none"])
        for (decision, reason), count in per_image.items():
            assert delta("fiqa_image_decisions_total", decision=decision, reason=reason) == count
    # Quality scores (drift): one observation per assessed face, summing to the scores returned.
    model = settings.default_models[0]
    assert delta("fiqa_quality_score_count", model=model) == len(assessed)
    assert abs(
        delta("fiqa_quality_score_sum", model=model) - sum(f["quality"]["score"] for f in assessed)
    ) < 0.01 * len(assessed)
    # Inference: every assessed face sent its rows (as many as the method prepares for one crop: 1 for a
    # regressor, 2 + 2n for diffiqa) through the model's network, in counted batches.
    method = client.app.state.pipeline.methods[model]
    ((network, tensors),) = method.prepare(np.zeros((1, 112, 112, 3), dtype=np.uint8)).items()
    rows_per_face = next(iter(tensors.values())).shape[0]
    assert delta("fiqa_batch_size_sum", model=network) == rows_per_face * len(assessed)
    calls = delta("fiqa_batch_size_count", model=network)
    assert 3 <= calls == delta("fiqa_model_inference_duration_seconds_count", model=network)
    assert 0 < delta("fiqa_model_inference_duration_seconds_sum", model=network) <= stage_total
    assert _value("fiqa_queue_rows", model=network) == 0
    assert delta("fiqa_rejected_requests_total", reason="overloaded") == 0
