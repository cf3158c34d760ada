"""End-to-end tests of the HTTP API with real models and real face images."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import zlib
from pathlib import Path

import cv2
import httpx2
import numpy as np
import pytest
from PIL import Image
from prometheus_client import REGISTRY

from service.api import create_app
from service.registry import Registry
from service.settings import Settings

DEFAULT = Settings().default_models[0]


def _jpeg(rgb: np.ndarray, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert "Traceback" not in response.text
    assert response.headers["x-request-id"] == body["request_id"]
    return body


# --- health, readiness, models, metrics --------------------------------------------------------------


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["backend"] == "onnxruntime"


def test_models_lists_cards_runtime_and_threshold_source(client):
    body = client.get("/v1/models").json()
    models = {entry["name"]: entry for entry in body["models"]}
    assert {"centerface", "fr_feature", "diffiqa", DEFAULT} <= set(models)
    assert models["fr_feature"]["runtime"] == {"providers": ["CPUExecutionProvider"], "loaded": True}
    assert "training_command" not in models[DEFAULT]["source"] and models[DEFAULT]["source"]["labels"]
    assert models["fr_feature"]["inputs"][0]["shape"] == [-1, 3, 112, 112]
    for name in ("diffiqa", DEFAULT):
        model = models[name]
        assert model["score_mapping"]["raw_high"] > model["score_mapping"]["raw_low"]
        assert model["decision_threshold"]["source"]
        assert model["default"] is (name == DEFAULT)


def test_models_detail_full_adds_training_commands_and_runtime_versions(client):
    """Shown only when asked for: they tell an attacker more than they tell a client."""
    models = {entry["name"]: entry for entry in client.get("/v1/models?detail=full").json()["models"]}
    assert models["fr_feature"]["runtime"]["runtime"].startswith("onnxruntime ")
    assert models[DEFAULT]["source"]["training_command"].startswith("python -m fiqa ")
    assert client.get("/v1/models?detail=everything").status_code == 422


def test_openapi_documents_score_contract(client):
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/score"]["post"]
    assert set(operation["requestBody"]["content"]) >= {"application/json", "multipart/form-data", "image/jpeg"}
    assert "ScoreResponse" in json.dumps(operation["responses"]["200"])
    assert "ErrorBody" in json.dumps(operation["responses"]["413"])


# --- scoring ----------------------------------------------------------------------------------------


def test_multipart_one_face_with_landmarks_on_the_eyes(client, samples):
    response = client.post("/score", files={"images": ("obama.jpg", (samples / "obama.jpg").read_bytes())})
    assert response.status_code == 200, response.text
    body = response.json()
    (image,) = body["images"]
    assert image["id"] == "obama.jpg" and image["status"] == "ok"
    assert (image["width"], image["height"]) == (910, 1137)
    (face,) = image["faces"]
    box = face["box"]
    left_eye, right_eye, nose, mouth_left, mouth_right = face["landmarks"]
    for x, y in face["landmarks"]:
        assert box["x1"] <= x <= box["x2"] and box["y1"] <= y <= box["y2"]
    assert left_eye[0] < right_eye[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
    assert face["inter_eye_distance"] == pytest.approx(np.hypot(*np.subtract(right_eye, left_eye)))
    assert 0 <= face["quality"]["score"] <= 100
    assert set(face["quality"]["raw"]) == {DEFAULT}
    assert face["decision"] in ("accept", "reject")
    assert image["decision"] == face["decision"]
    assert body["models"] == [{"name": DEFAULT, "version": Registry(Settings().models_dir)[DEFAULT].version}]
    for stage in ("decode", "detect", "detect_infer", "align", "quality", "quality_infer", "decide", "total"):
        assert body["timings_ms"][stage] >= 0
    assert body["timings_ms"]["total"] >= body["timings_ms"]["quality_infer"]


def test_json_keeps_request_order_and_ids(client, samples):
    payload = {
        "images": [
            {"id": "cat", "data": _b64((samples / "no_face_cat.png").read_bytes())},
            {
                "id": "hopper",
                "data": "data:image/jpeg;base64," + _b64((samples / "grace_hopper_512x512.jpg").read_bytes()),
            },
        ]
    }
    body = client.post("/score", json=payload).json()
    assert [image["id"] for image in body["images"]] == ["cat", "hopper"]
    cat, hopper = body["images"]
    assert cat["faces"] == [] and cat["decision"] == "reject" and cat["reasons"] == ["no_face"]
    assert len(hopper["faces"]) == 1


def test_raw_body_with_query_options_limits_faces(client, samples):
    response = client.post(
        "/score?max_faces=2", content=(samples / "t1.jpg").read_bytes(), headers={"content-type": "image/jpeg"}
    )
    assert response.status_code == 200, response.text
    (image,) = response.json()["images"]
    assert image["faces_detected"] == 6
    assert len(image["faces"]) == 2
    areas = [(f["box"]["x2"] - f["box"]["x1"]) * (f["box"]["y2"] - f["box"]["y1"]) for f in image["faces"]]
    assert areas[0] >= areas[1]


def test_policy_options_give_their_reasons(client, samples):
    group = _b64((samples / "t1.jpg").read_bytes())
    body = client.post("/score", json={"images": [{"data": group}], "options": {"single_face": True}}).json()
    image = body["images"][0]
    assert image["decision"] == "reject" and image["reasons"] == ["multiple_faces"]
    assert all("multiple_faces" in face["reasons"] for face in image["faces"])

    one = _b64((samples / "obama.jpg").read_bytes())
    strict = {"min_face_size": 500, "threshold": 100}
    face = client.post("/score", json={"images": [{"data": one}], "options": strict}).json()["images"][0]["faces"][0]
    assert face["decision"] == "reject"
    assert "face_too_small" in face["reasons"]
    if face["quality"]["score"] < 100:
        assert "quality_below_threshold" in face["reasons"]
    lenient = {"min_face_size": 0, "threshold": 0}
    face = client.post("/score", json={"images": [{"data": one}], "options": lenient}).json()["images"][0]["faces"][0]
    assert face["decision"] == "accept" and face["reasons"] == []


def test_tightly_cropped_face_is_scored_and_reported_out_of_frame(client, samples):
    """An ID-photo-tight capture: the aligned crop reaches outside the frame, yet the face gets a real score, and
    ``face_out_of_frame`` stands beside (not instead of) the quality verdict."""
    rgb = _rgb(samples / "obama.jpg")
    whole = client.post("/score", content=_jpeg(rgb), headers={"content-type": "image/jpeg"}).json()
    x1, y1, x2, y2 = (round(v) for v in whole["images"][0]["faces"][0]["box"].values())
    tight = np.ascontiguousarray(rgb[max(y1, 0) : y2, max(x1, 0) : x2])
    options = {"threshold": 0, "min_face_size": 0}
    body = client.post("/score", json={"images": [{"data": _b64(_jpeg(tight))}], "options": options}).json()
    face = body["images"][0]["faces"][0]
    assert face["out_of_frame"] > 0.35
    assert 0.0 <= face["quality"]["score"] <= 100.0
    assert face["quality"]["raw"][DEFAULT] == pytest.approx(face["quality"]["raw"][DEFAULT])  # a number, not NaN
    assert face["reasons"] == ["face_out_of_frame"]


def test_same_image_same_score(client, samples):
    data = (samples / "obama2.jpg").read_bytes()
    first = client.post("/score", content=data, headers={"content-type": "image/jpeg"}).json()
    second = client.post("/score", files={"a": ("x.jpg", data), "b": ("y.jpg", data)}).json()
    scores = [image["faces"][0]["quality"]["raw"][DEFAULT] for image in first["images"] + second["images"]]
    assert scores[0] == pytest.approx(scores[1], abs=1e-6) == pytest.approx(scores[2], abs=1e-6)


def test_degraded_copies_score_lower_on_average(client, data_dir):
    originals = sorted((data_dir / "lfw" / "images").glob("A*/*_0001.jpg"))[:5]
    assert len(originals) == 5
    images = []
    for path in originals:
        rgb = _rgb(path)
        small = cv2.resize(rgb, None, fx=0.2, fy=0.2, interpolation=cv2.INTER_AREA)
        down = cv2.resize(small, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_CUBIC)
        for variant in (rgb, cv2.GaussianBlur(rgb, (0, 0), 3.0), down):
            images.append({"data": _b64(_jpeg(variant))})
    options = {"max_faces": 1, "min_face_size": 0}
    body = client.post("/score", json={"images": images, "options": options}).json()
    scores = np.array(
        [image["faces"][0]["quality"]["score"] if image["faces"] else np.nan for image in body["images"]]
    ).reshape(-1, 3)
    assert not np.isnan(scores[:, 0]).any()
    original, blurred, downscaled = (np.nanmean(scores[:, k]) for k in range(3))
    assert blurred < original - 10
    assert downscaled < original - 10


# --- bad input: a clear 4xx with a JSON body, and the service keeps serving ---------------------------


@pytest.fixture(scope="module")
def bad_inputs(samples):
    jpeg = (samples / "obama.jpg").read_bytes()
    tiny = io.BytesIO()
    Image.new("RGB", (1, 1)).save(tiny, format="PNG")
    # Built once: compressing 400 MB of zeros takes seconds, which every parametrised case paid before.
    return {"jpeg": jpeg, "tiny": tiny.getvalue(), "bomb": _png_bomb(20_000, 20_000)}


def _png_bomb(width: int, height: int) -> bytes:
    """A valid PNG of a huge all-black image: a few KB on the wire, gigabytes once decoded."""
    row = b"\x00" + b"\x00" * width
    raw = zlib.compress(row * height, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("empty_body", 400, "empty_body"),
        ("not_an_image", 400, "not_an_image"),
        ("truncated_jpeg", 400, "truncated_image"),
        ("decompression_bomb", 413, "too_many_pixels"),
        ("one_pixel", 400, "image_too_small"),
        ("unsupported_content_type", 415, "unsupported_media_type"),
        ("invalid_base64", 400, "invalid_base64"),
        ("invalid_json", 400, "invalid_json"),
        ("unknown_option", 422, "invalid_options"),
        ("bad_option_value", 422, "invalid_options"),
        ("unknown_model", 422, "invalid_options"),
        ("unknown_query_option", 422, "invalid_options"),
        ("schema_violation", 422, "invalid_request"),
        ("too_many_images", 413, "too_many_images"),
        ("no_images", 422, "invalid_request"),
        ("malformed_multipart", 400, "invalid_multipart"),
    ],
)
def test_bad_input_is_a_clear_4xx(client, bad_inputs, case, status, code):
    jpeg = bad_inputs["jpeg"]
    as_json = {"headers": {"content-type": "application/json"}}
    requests = {
        "empty_body": {"content": b"", "headers": {"content-type": "image/jpeg"}},
        "not_an_image": {"content": b"hello, I am text", "headers": {"content-type": "image/png"}},
        "truncated_jpeg": {"content": jpeg[: len(jpeg) // 3], "headers": {"content-type": "image/jpeg"}},
        "decompression_bomb": {"content": bad_inputs["bomb"], "headers": {"content-type": "image/png"}},
        "one_pixel": {"content": bad_inputs["tiny"], "headers": {"content-type": "image/png"}},
        "unsupported_content_type": {"content": jpeg, "headers": {"content-type": "text/plain"}},
        "invalid_base64": {"json": {"images": [{"data": "not base64 at all!!"}]}},
        "invalid_json": {"content": b'{"images": [', **as_json},
        "unknown_option": {"json": {"images": [{"data": _b64(jpeg)}], "options": {"max_fcaes": 1}}},
        "bad_option_value": {"json": {"images": [{"data": _b64(jpeg)}], "options": {"threshold": 400}}},
        "unknown_model": {"json": {"images": [{"data": _b64(jpeg)}], "options": {"models": ["nope"]}}},
        "unknown_query_option": {"content": jpeg, "headers": {"content-type": "image/jpeg"}, "params": {"x": "1"}},
        "schema_violation": {"json": {"images": "everything"}},
        "too_many_images": {"json": {"images": [{"data": _b64(bad_inputs["tiny"])}] * 17}},
        "no_images": {"json": {"images": []}},
        "malformed_multipart": {
            "content": b"--xyz\r\nContent-Disposition: form-data; name=a\r\n\r\n--xyz--",
            "headers": {"content-type": "multipart/form-data"},  # no boundary parameter
        },
    }
    _assert_error(client.post("/score", **requests[case]), status, code)
    assert client.get("/healthz").status_code == 200
    assert client.post("/score", content=jpeg, headers={"content-type": "image/jpeg"}).status_code == 200


def test_bad_image_among_good_ones_fails_only_itself(client, samples):
    payload = {
        "images": [
            {"id": "good", "data": _b64((samples / "biden.jpg").read_bytes())},
            {"id": "bad", "data": _b64(b"GIF89a broken")},
        ]
    }
    response = client.post("/score", json=payload)
    assert response.status_code == 200
    good, bad = response.json()["images"]
    assert good["status"] == "ok" and len(good["faces"]) == 1
    assert bad["status"] == "error" and bad["error"]["code"] == "not_an_image" and bad["decision"] is None


def test_truncated_image_among_good_ones_is_refused_and_not_scored(client, samples):
    """Half a JPEG closed with an end-of-image marker decodes without a libjpeg error (its lower half mid-grey):
    it must come back as that image's error, the good image beside it scored."""
    jpeg = (samples / "obama.jpg").read_bytes()
    payload = {
        "images": [
            {"id": "truncated", "data": _b64(jpeg[: len(jpeg) // 2] + b"\xff\xd9")},
            {"id": "good", "data": _b64((samples / "biden.jpg").read_bytes())},
        ]
    }
    response = client.post("/score", json=payload)
    assert response.status_code == 200, response.text
    truncated, good = response.json()["images"]
    assert truncated["id"] == "truncated" and truncated["status"] == "error"
    assert truncated["error"]["code"] == "truncated_image" and truncated["faces"] == []
    assert truncated["decision"] is None and "truncated" in truncated["error"]["message"]
    assert good["status"] == "ok" and len(good["faces"]) == 1
    assert 0.0 <= good["faces"][0]["quality"]["score"] <= 100.0


def test_body_and_byte_limits(make_client, samples):
    jpeg = (samples / "obama.jpg").read_bytes()
    with make_client(max_body_bytes=len(jpeg) - 1) as small:
        _assert_error(small.post("/score", content=jpeg, headers={"content-type": "image/jpeg"}), 413, "body_too_large")
        assert small.get("/healthz").status_code == 200


def test_unknown_route_is_json(client):
    _assert_error(client.get("/nope"), 404, "not_found")


def test_request_id_is_echoed(client, samples):
    response = client.post(
        "/score",
        content=(samples / "obama.jpg").read_bytes(),
        headers={"content-type": "image/jpeg", "x-request-id": "gate-7.capture-42"},
    )
    assert response.headers["x-request-id"] == "gate-7.capture-42"
    assert response.json()["request_id"] == "gate-7.capture-42"


# --- batching and back-pressure -----------------------------------------------------------------------


def _batch_stats(model: str) -> tuple[float, float]:
    count = REGISTRY.get_sample_value("fiqa_batch_size_count", {"model": model}) or 0.0
    total = REGISTRY.get_sample_value("fiqa_batch_size_sum", {"model": model}) or 0.0
    return count, total


def test_concurrent_requests_share_inference_batches(samples):
    """Four requests in flight at once: their 4 x 10 rows (diffiqa) go through fewer than 4 model calls."""
    settings = Settings(max_wait_ms=200.0, max_batch_size=64, default_models=["diffiqa"], warmup=False)
    app = create_app(settings)
    jpeg = (samples / "obama3.jpg").read_bytes()

    async def run() -> list[int]:
        async with app.router.lifespan_context(app):
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://gateway") as http:
                before = _batch_stats("fr_feature")
                responses = await asyncio.gather(
                    *(http.post("/score", content=jpeg, headers={"content-type": "image/jpeg"}) for _ in range(4))
                )
                after = _batch_stats("fr_feature")
        assert [r.status_code for r in responses] == [200] * 4
        return [int(after[0] - before[0]), int(after[1] - before[1])]

    calls, rows = asyncio.run(run())
    per_face = app.state.pipeline.methods["diffiqa"].copies
    assert rows == 4 * per_face
    assert calls < 4


def _rejected() -> dict[str, float]:
    return {
        reason: REGISTRY.get_sample_value("fiqa_rejected_requests_total", {"reason": reason}) or 0.0
        for reason in ("overloaded", "queue_full")
    }


def test_full_queue_answers_503_with_retry_after(samples):
    """Two one-face diffiqa requests (10 rows each) against a queue of 10 rows held for a long batching wait: the
    second finds it full and is refused at once, counted once, and told when to retry."""
    app = create_app(Settings(max_queue_rows=10, max_wait_ms=1500.0, default_models=["diffiqa"], warmup=False))
    jpeg = (samples / "obama.jpg").read_bytes()

    async def run() -> list[httpx2.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://gateway") as http:
                return await asyncio.gather(
                    *(http.post("/score", content=jpeg, headers={"content-type": "image/jpeg"}) for _ in range(2))
                )

    before = _rejected()
    responses = asyncio.run(run())
    after = _rejected()
    assert sorted(r.status_code for r in responses) == [200, 503]
    refused = next(r for r in responses if r.status_code == 503)
    _assert_error(refused, 503, "overloaded")
    assert refused.headers["retry-after"] == "1"
    # one refused request is counted once, under the code its answer carries
    assert after["overloaded"] - before["overloaded"] == 1 and after["queue_full"] == before["queue_full"]


def test_a_request_that_can_never_fit_is_413_before_inference(make_client, samples):
    # one diffiqa face needs 10 rows of fr_feature, the whole queue holds 5: no retry could help
    with make_client(max_queue_rows=5, default_models=["diffiqa"], warmup=False) as tight:
        before = _rejected()
        response = tight.post(
            "/score", content=(samples / "obama.jpg").read_bytes(), headers={"content-type": "image/jpeg"}
        )
        _assert_error(response, 413, "request_too_large")
        assert "10 rows of fr_feature" in response.json()["error"]["message"] and "retry-after" not in response.headers
        assert _rejected() == before
        no_face = tight.post(
            "/score", content=(samples / "no_face_cat.png").read_bytes(), headers={"content-type": "image/png"}
        )
        assert no_face.status_code == 200


def test_metrics_count_requests_and_decisions(client, samples):
    def value(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    requests_before = value("fiqa_http_requests_total", {"route": "/score", "method": "POST", "status": "200"})
    no_face_before = value("fiqa_image_decisions_total", {"decision": "reject", "reason": "no_face"})
    faces_before = value("fiqa_faces_per_image_count", {})
    client.post("/score", content=(samples / "no_face_coffee.png").read_bytes(), headers={"content-type": "image/png"})
    client.post("/score", content=(samples / "obama.jpg").read_bytes(), headers={"content-type": "image/jpeg"})
    assert (
        value("fiqa_http_requests_total", {"route": "/score", "method": "POST", "status": "200"}) == requests_before + 2
    )
    assert value("fiqa_faces_per_image_count", {}) == faces_before + 2
    assert value("fiqa_image_decisions_total", {"decision": "reject", "reason": "no_face"}) == no_face_before + 1
    text = client.get("/metrics").text
    for series in (
        "fiqa_stage_duration_seconds_bucket",
        "fiqa_model_inference_duration_seconds_bucket",
        "fiqa_queue_rows",
        "fiqa_quality_score_bucket",
        "fiqa_http_request_duration_seconds_bucket",
    ):
        assert series in text


def test_scoring_past_its_time_budget_is_a_504_and_the_service_recovers(make_client, samples):
    jpeg = (samples / "obama.jpg").read_bytes()
    with make_client(request_timeout_s=0.001) as hurried:
        _assert_error(hurried.post("/score", content=jpeg, headers={"content-type": "image/jpeg"}), 504, "timeout")
        assert hurried.get("/readyz").status_code == 200


def test_a_model_whose_file_does_not_match_its_card_is_not_served(make_client, tmp_path, samples):
    """An optional model with a swapped file is left out; the default model with one keeps the gateway down."""
    models = tmp_path / "models"
    for card in Registry(Settings().models_dir).cards.values():
        folder = models / card.name
        folder.mkdir(parents=True)
        for item in (Settings().models_dir / card.name).iterdir():
            if item.name in ("card.yaml", "model.onnx"):
                (folder / item.name).write_bytes(item.read_bytes())
    (models / "mrfiqa_r" / "model.onnx").write_bytes((models / "diffiqa_r" / "model.onnx").read_bytes())
    with make_client(models_dir=models) as gateway:
        listed = {entry["name"]: entry for entry in gateway.get("/v1/models").json()["models"]}
        assert listed["mrfiqa_r"]["runtime"]["loaded"] is False and listed["diffiqa_r"]["runtime"]["loaded"] is True
        assert (
            gateway.post(
                "/score",
                json={
                    "images": [{"data": _b64((samples / "obama.jpg").read_bytes())}],
                    "options": {"models": ["mrfiqa_r"]},
                },
            ).status_code
            == 422
        )
    with pytest.raises(Exception, match="sha256"), make_client(models_dir=models, default_models=["mrfiqa_r"]):
        pass
