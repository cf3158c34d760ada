"""service.api.parsing and the error handlers, through the app: strict JSON (depth, duplicate keys, types), MIME
base64, our own limits in our own words, HEAD on the health routes, Allow on a 405, and a 500 that keeps the
request id (issue 21's parsing cases)."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest
from fastapi import Request

from service.api.parsing import MAX_JSON_DEPTH


@pytest.fixture(scope="module")
def jpeg(samples: Path) -> bytes:
    return (samples / "obama.jpg").read_bytes()


def _post_json(client, body: str):
    return client.post("/score", content=body.encode(), headers={"content-type": "application/json"})


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 10_000])
def test_deeply_nested_json_is_a_400(client, depth: int) -> None:
    response = _post_json(client, '{"images": ' + "[" * depth + "]" * depth + "}")
    assert response.status_code == 400 and response.json()["error"]["code"] == "json_too_deep"
    assert response.headers["x-request-id"]


def test_deeply_nested_options_field_is_a_400(client, jpeg: bytes) -> None:
    options = '{"models": ' + "[" * 10_000 + "]" * 10_000 + "}"
    response = client.post("/score", files={"images": ("a.jpg", jpeg, "image/jpeg")}, data={"options": options})
    assert response.status_code == 400 and response.json()["error"]["code"] == "json_too_deep"


def test_duplicate_keys_are_refused(client, jpeg: bytes) -> None:
    data = base64.b64encode(jpeg).decode()
    body = '{"images": [{"data": "' + data + '"}], "options": {"threshold": 10, "threshold": 90}}'
    response = _post_json(client, body)
    assert response.status_code == 400 and "threshold" in response.json()["error"]["message"]


@pytest.mark.parametrize(("option", "value"), [("threshold", "50"), ("max_faces", True), ("single_face", 1)])
def test_option_types_are_not_coerced(client, jpeg: bytes, option: str, value: object) -> None:
    body = {"images": [{"data": base64.b64encode(jpeg).decode()}], "options": {option: value}}
    response = _post_json(client, json.dumps(body))
    assert response.status_code == 422
    assert response.json()["details"][0]["loc"] == ["options", option]


def test_query_options_of_a_raw_body_are_read_from_text(client, jpeg: bytes) -> None:
    response = client.post("/score?threshold=99.5", content=jpeg, headers={"content-type": "image/jpeg"})
    assert response.status_code == 200
    assert response.json()["images"][0]["reasons"] == ["quality_below_threshold"]


def test_mime_base64_with_line_breaks_is_accepted(client, jpeg: bytes) -> None:
    wrapped = base64.encodebytes(jpeg).decode()  # 76 columns, as `base64` prints
    assert "\n" in wrapped
    response = _post_json(client, json.dumps({"images": [{"data": wrapped}]}))
    assert response.status_code == 200 and response.json()["images"][0]["status"] == "ok"


def test_too_many_files_names_our_limit(client, jpeg: bytes) -> None:
    limit = client.app.state.settings.max_images
    for count in (limit + 1, limit + 2):
        files = [("images", (f"{i}.jpg", jpeg, "image/jpeg")) for i in range(count)]
        response = client.post("/score", files=files)
        assert response.status_code == 413 and response.json()["error"]["code"] == "too_many_images"
        message = response.json()["error"]["message"]
        assert f"limit is {limit}" in message or f"more than {limit} images" in message
        assert "Maximum number of files" not in message


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_head_on_health_routes(client, path: str) -> None:
    response = client.head(path)
    assert response.status_code == 200 and response.content == b""


def test_method_not_allowed_says_what_is(client) -> None:
    response = client.get("/score")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_an_unexpected_error_is_one_500_with_the_request_id(make_client, caplog) -> None:
    with make_client(warmup=False) as client:

        @client.app.get("/boom")
        async def boom(request: Request) -> None:
            raise RuntimeError("not for the client")

        with caplog.at_level(logging.ERROR):
            response = client.get("/boom", headers={"x-request-id": "req-500"})
    assert response.status_code == 500 and response.headers["x-request-id"] == "req-500"
    assert response.json() == {
        "error": {"code": "internal_error", "message": "internal error"},
        "details": [],
        "request_id": "req-500",
    }
    assert sum("Traceback" in (record.exc_text or "") or record.exc_info is not None for record in caplog.records) == 1
