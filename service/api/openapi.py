"""The OpenAPI document, complete: FastAPI leaves out the models of bodies a route parses by hand (``/score`` reads
JSON, multipart and raw images itself), so the JSON body's schemas are added here, and both body forms get the
limits the gateway enforces (required images, at most ``max_images``, base64 text). Generated clients and fuzzers
then see the same contract the parser applies."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service.api.parsing import RAW_IMAGE_TYPES
from service.schemas import ScoreRequest
from service.settings import Settings

REF = "#/components/schemas/{model}"
# Standard base64 (MIME line breaks allowed), optionally behind a data: URL prefix; documentation only: the parser
# answers bad base64 per image (that image's error), not with a 422 for the whole request.
BASE64 = r"^(data:[\w/+.-]+;base64,)?[A-Za-z0-9+/=\s]*$"


def _json_body(settings: Settings) -> dict[str, dict[str, Any]]:
    body = ScoreRequest.model_json_schema(ref_template=REF)
    schemas = body.pop("$defs", {})
    body["properties"]["images"]["maxItems"] = settings.max_images
    schemas["ImageIn"]["properties"]["data"]["pattern"] = BASE64
    return {**schemas, "ScoreRequest": body}


def _multipart_body(settings: Settings) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["images"],
        "properties": {
            "images": {
                "type": "array",
                "minItems": 1,
                "maxItems": settings.max_images,
                "items": {"type": "string", "format": "binary"},
            },
            "options": {"type": "string", "description": "ScoreOptions as JSON (contentMediaType application/json)"},
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
        document.setdefault("components", {}).setdefault("schemas", {}).update(_json_body(settings))
        document["paths"]["/score"]["post"]["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": REF.format(model="ScoreRequest")}},
                "multipart/form-data": {"schema": _multipart_body(settings)},
                **{kind: {"schema": {"type": "string", "format": "binary"}} for kind in sorted(RAW_IMAGE_TYPES)},
            },
        }
        app.openapi_schema = document
    return app.openapi_schema
