"""The OpenAPI document, complete: FastAPI leaves out the models of bodies a route parses by hand (``/score`` and
``/select`` read JSON, multipart and raw images themselves), so the JSON bodies' schemas are added here, and both
body forms get the limits the gateway enforces (required images, at most ``max_images`` or ``max_select_frames``,
base64 text), with examples for ``/select``. Generated clients and fuzzers
then see the same contract the parser applies."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service.api.parsing import RAW_IMAGE_TYPES, BodyForm, score_form, select_form
from service.settings import Settings

REF = "#/components/schemas/{model}"
# Standard base64 (MIME line breaks allowed), optionally behind a data: URL prefix; documentation only: the parser
# answers bad base64 per image (that image's error), not with a 422 for the whole request.
BASE64 = r"^(data:[\w/+.-]+;base64,)?[A-Za-z0-9+/=\s]*$"


# A frame's bytes in the examples: the start of a JPEG (a real request sends whole frames)
_FRAME = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDAwLCwwLDA=="
_FACE = {
    "index": 0,
    "box": {"x1": 120.5, "y1": 80.2, "x2": 260.1, "y2": 250.7},
    "landmarks": [[160.2, 150.1], [220.4, 149.8], [190.0, 185.3], [165.7, 215.2], [216.9, 214.6]],
    "detection_score": 0.93,
    "inter_eye_distance": 60.2,
    "out_of_frame": 0.0,
    "quality": {"score": 78.4, "model": "diffiqa_r64", "scores": {"diffiqa_r64": 78.4}, "raw": {"diffiqa_r64": 0.61}},
    "decision": "accept",
    "reasons": [],
}
SELECT_EXAMPLES: dict[str, Any] = {
    "request": {
        "burst": {
            "summary": "Three frames of one capture; track each person",
            "value": {
                "images": [{"id": f"frame-{i}", "data": _FRAME} for i in range(3)],
                "options": {"track": True, "single_face": False},
            },
        }
    },
    "response": {
        "request_id": "5f0c1e9a2b7d4c3e8f6a1b2c3d4e5f60",
        "chosen": {
            "frame": 2,
            "id": "frame-2",
            "face": _FACE,
            "why": {
                "decided_by": "quality",
                "candidates": 2,
                "runner_up_frame": 1,
                "margin": 9.6,
                "message": "the highest quality (+9.6 quality over frame 1)",
            },
        },
        "reasons": [],
        "tracks": [],
        "frames": [
            {
                "index": 0,
                "id": "frame-0",
                "status": "ok",
                "decision": "reject",
                "score": 31.2,
                "reasons": ["quality_below_threshold"],
            },
            {"index": 1, "id": "frame-1", "status": "ok", "decision": "accept", "score": 68.8, "reasons": []},
            {"index": 2, "id": "frame-2", "status": "ok", "decision": "accept", "score": 78.4, "reasons": []},
        ],
        "timings_ms": {"decode": 4.1, "detect": 21.7, "align": 1.2, "quality": 35.0, "total": 62.3},
        "models": [{"name": "diffiqa_r64", "version": "1"}],
        "warnings": [],
    },
}


def _json_body(form: BodyForm) -> dict[str, dict[str, Any]]:
    body = form.model.model_json_schema(ref_template=REF)
    schemas = body.pop("$defs", {})
    body["properties"]["images"]["maxItems"] = form.limit
    schemas["ImageIn"]["properties"]["data"]["pattern"] = BASE64
    return {**schemas, form.model.__name__: body}


def _multipart_body(form: BodyForm) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["images"],
        "properties": {
            "images": {
                "type": "array",
                "minItems": 1,
                "maxItems": form.limit,
                "items": {"type": "string", "format": "binary"},
            },
            "options": {
                "type": "string",
                "description": f"{form.options.__name__} as JSON (contentMediaType application/json)",
            },
        },
    }


def _request_body(form: BodyForm) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": REF.format(model=form.model.__name__)}},
            "multipart/form-data": {"schema": _multipart_body(form)},
            **{kind: {"schema": {"type": "string", "format": "binary"}} for kind in sorted(RAW_IMAGE_TYPES)},
        },
    }


def _without_security(document: dict[str, Any]) -> None:
    """Drop the key schemes from a document whose gateway has no keys configured: it asks for none."""
    document.get("components", {}).pop("securitySchemes", None)
    for operations in document["paths"].values():
        for operation in operations.values():
            operation.pop("security", None)
            operation.get("responses", {}).pop("401", None)


def build_openapi(app: FastAPI, settings: Settings, keys_configured: bool) -> dict[str, Any]:
    """The app's OpenAPI document with the request bodies described in full, and the API-key schemes only where
    keys are configured (built once, then cached)."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        if not keys_configured:
            _without_security(document)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        paths = document["paths"]
        for path, form in (("/score", score_form(settings)), ("/select", select_form(settings))):
            schemas.update(_json_body(form))
            paths[path]["post"]["requestBody"] = _request_body(form)
        select = paths["/select"]["post"]
        select["requestBody"]["content"]["application/json"]["examples"] = SELECT_EXAMPLES["request"]
        select["responses"]["200"]["content"]["application/json"]["example"] = SELECT_EXAMPLES["response"]
        app.openapi_schema = document
    return app.openapi_schema
