"""The request-context middleware (``service.api.RequestContext``) on a bare Starlette app: ids, the 500 for an
unhandled error, metrics and the access line, without loading any model."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from service.api import RequestContext


async def _ok(request):
    request.state.log_fields = {"faces": 1}
    return JSONResponse({"id": request.state.request_id})


async def _broken(request):
    raise RuntimeError("a bug")


async def _breaks_midway(request):
    async def body():
        yield b"{"
        raise RuntimeError("a bug after the answer began")

    return StreamingResponse(body(), media_type="application/json")


@pytest.fixture
def client():
    app = Starlette(routes=[Route("/ok", _ok), Route("/broken", _broken), Route("/midway", _breaks_midway)])
    app.add_middleware(RequestContext)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _count(route: str, status: str) -> float:
    value = REGISTRY.get_sample_value("fiqa_http_requests_total", {"route": route, "method": "GET", "status": status})
    return value or 0.0


def test_a_well_formed_client_id_is_kept_and_a_malformed_one_replaced(client):
    kept = client.get("/ok", headers={"X-Request-ID": "gate-7.capture-42"})
    assert kept.headers["x-request-id"] == "gate-7.capture-42" == kept.json()["id"]
    replaced = client.get("/ok", headers={"X-Request-ID": "no spaces; allowed"})
    assert replaced.headers["x-request-id"] == replaced.json()["id"]
    assert len(replaced.json()["id"]) == 32 and replaced.json()["id"] != "no spaces; allowed"


def test_an_answer_is_counted_and_logged_with_the_route_fields(client, caplog):
    before = _count("/ok", "200")
    with caplog.at_level(logging.INFO, logger="service.access"):
        response = client.get("/ok")
    assert _count("/ok", "200") == before + 1
    lines = [record for record in caplog.records if getattr(record, "request_id", None) == response.json()["id"]]
    assert len(lines) == 1
    assert lines[0].status == 200 and lines[0].faces == 1 and lines[0].route == "/ok"


def test_an_unhandled_error_is_a_500_error_body_with_the_request_id(client, caplog):
    before = _count("/broken", "500")
    with caplog.at_level(logging.ERROR, logger="service.api"):
        response = client.get("/broken", headers={"X-Request-ID": "req-1"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-1"
    body = response.json()
    assert body["error"]["code"] == "internal_error" and body["request_id"] == "req-1"
    assert "Traceback" not in response.text
    assert _count("/broken", "500") == before + 1
    assert any("a bug" in record.exc_text for record in caplog.records if record.exc_text)


def test_an_error_after_the_answer_began_is_not_answered_twice(client):
    """No second answer is started on a half-sent one: the client gets what was sent, counted once."""
    ok, failed = _count("/midway", "200"), _count("/midway", "500")
    response = client.get("/midway")
    assert response.status_code == 200 and response.content == b"{"
    assert (_count("/midway", "200"), _count("/midway", "500")) == (ok + 1, failed)
