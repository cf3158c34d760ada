"""Structured JSON logs: the formatter, the config uvicorn gets, and one access line per request."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from service.logs import JsonFormatter, logging_config


def test_json_formatter_writes_one_object_with_extras_and_exceptions() -> None:
    record = logging.makeLogRecord(
        {"name": "service.access", "levelno": 20, "levelname": "INFO", "msg": "POST %s", "args": ("/score",)}
    )
    record.request_id = "abc"
    record.decisions = {"accept": 1}
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "POST /score"
    assert entry["request_id"] == "abc" and entry["decisions"] == {"accept": 1}
    assert entry["level"] == "INFO" and entry["logger"] == "service.access" and entry["ts"].endswith("Z")
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.makeLogRecord({"msg": "failed", "exc_info": sys.exc_info()})
    assert "ValueError: boom" in json.loads(JsonFormatter().format(failed))["exc"]


def test_logging_config_routes_uvicorn_through_the_json_formatter() -> None:
    config = logging_config("debug", "json")
    assert config["formatters"]["default"]["()"] is JsonFormatter
    assert config["root"]["level"] == "DEBUG"
    assert config["loggers"]["uvicorn.access"]["propagate"] is False  # the gateway writes its own access line
    assert "()" not in logging_config("INFO", "text")["formatters"]["default"]


def test_one_access_line_per_request_with_its_id(client, samples: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="service.access")
    good = client.post(
        "/score",
        content=(samples / "obama.jpg").read_bytes(),
        headers={"content-type": "image/jpeg", "x-request-id": "kiosk-3.capture-17"},
    )
    bad = client.post("/score", content=b"garbage", headers={"content-type": "image/jpeg"})
    lines = [record for record in caplog.records if record.name == "service.access"]
    assert len(lines) == 2
    first, second = lines
    assert good.headers["x-request-id"] == first.request_id == "kiosk-3.capture-17"
    assert (first.route, first.method, first.status) == ("/score", "POST", 200)
    faces = good.json()["images"][0]["faces"]
    assert first.faces == len(faces) == 1
    assert first.decisions == {faces[0]["decision"]: 1}
    assert first.latency_ms > 0
    assert second.request_id == bad.headers["x-request-id"] and len(second.request_id) == 32
    assert (second.status, second.error) == (400, bad.json()["error"]["code"])
    entry = json.loads(JsonFormatter().format(first))
    assert entry["request_id"] == "kiosk-3.capture-17" and entry["faces"] == 1
