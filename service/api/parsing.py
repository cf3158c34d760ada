"""A ``POST /score`` request -> images and options: raw image bodies, base64 JSON or multipart, with the body size
bounded while it streams. Image bytes that cannot be read (bad base64) become that image's error, not the request's."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException

from service.errors import BadImage, BadRequest, InvalidOptions, ServiceError, TooLarge, UnsupportedMediaType
from service.pipeline import ImageInput
from service.schemas import ScoreOptions, ScoreRequest
from service.settings import Settings

RAW_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
_DATA_URL = re.compile(r"^data:[\w/+.-]+;base64,")


def validation_details(error: ValidationError, prefix: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Pydantic's errors as the ``details`` of an error body (no input echoed back, no documentation URLs)."""
    return [
        {"loc": [*prefix, *map(str, item["loc"])], "msg": item["msg"], "type": item["type"]}
        for item in error.errors(include_url=False, include_context=False, include_input=False)
    ]


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused as soon as it passes ``limit`` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"request body of {declared} bytes exceeds the {limit}-byte limit", code="body_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"request body exceeds the {limit}-byte limit", code="body_too_large")
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # lets Starlette's form parser read the body we already hold
    return body


def _options(raw: Any, where: tuple[str, ...]) -> ScoreOptions:
    try:
        return ScoreOptions.model_validate(raw)
    except ValidationError as exc:
        raise InvalidOptions("invalid options", details=validation_details(exc, where)) from exc


def _decode_base64(text: str) -> bytes:
    try:
        return base64.b64decode(_DATA_URL.sub("", text.strip()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadImage("image data is not valid base64", code="invalid_base64") from exc


def _parse_json(body: bytes) -> tuple[list[ImageInput], ScoreOptions]:
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}", code="invalid_json") from exc
    try:
        parsed = ScoreRequest.model_validate(payload)
    except ValidationError as exc:
        details = validation_details(exc)
        if any(item["loc"][:1] == ["options"] for item in details):
            raise InvalidOptions("invalid options", details=details) from exc
        error = InvalidOptions("request does not match the ScoreRequest schema", details=details)
        error.code = "invalid_request"
        raise error from exc
    images = []
    for index, item in enumerate(parsed.images):
        image_id = item.id or str(index)
        try:
            images.append(ImageInput(id=image_id, data=_decode_base64(item.data)))
        except ServiceError as error:
            images.append(ImageInput(id=image_id, error=error))
    return images, parsed.options


async def _parse_multipart(request: Request, settings: Settings) -> tuple[list[ImageInput], ScoreOptions]:
    try:
        form = await request.form(
            max_files=settings.max_images + 1, max_fields=8, max_part_size=settings.max_body_bytes
        )
    except MultiPartException as exc:
        raise BadRequest(f"malformed multipart body: {exc.message}", code="invalid_multipart") from exc
    except StarletteHTTPException as exc:  # Starlette reports a missing boundary this way
        raise BadRequest(f"malformed multipart body: {exc.detail}", code="invalid_multipart") from exc
    images: list[ImageInput] = []
    options: Any = {}
    for field, value in form.multi_items():
        if isinstance(value, UploadFile):
            images.append(ImageInput(id=value.filename or field, data=await value.read()))
        elif field == "options":
            try:
                options = json.loads(value)
            except json.JSONDecodeError as exc:
                raise InvalidOptions(f"options field is not valid JSON: {exc}") from exc
        else:
            raise InvalidOptions(
                f"unknown form field {field!r}: send images as files and options as a JSON 'options' field",
                details=[{"loc": ["form", field], "type": "extra_forbidden"}],
            )
    return images, _options(options, ("options",))


def _query_options(request: Request) -> ScoreOptions:
    raw: dict[str, Any] = dict(request.query_params)
    if "models" in raw:
        raw["models"] = [name for name in raw["models"].split(",") if name]
    return _options(raw, ("query",))


async def parse_score_request(request: Request, settings: Settings) -> tuple[list[ImageInput], ScoreOptions]:
    """Images and options of one ``POST /score``, whichever of the three body forms it uses, within the limits."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in RAW_IMAGE_TYPES | {"application/json", "multipart/form-data"}:
        raise UnsupportedMediaType(
            f"content type {kind or '(none)'!r} is not accepted; use multipart/form-data, "
            f"application/json or one of {sorted(RAW_IMAGE_TYPES)}"
        )
    body = await read_body(request, settings.max_body_bytes)
    if not body:
        raise BadRequest("request body is empty", code="empty_body")
    if kind in RAW_IMAGE_TYPES:
        images, options = [ImageInput(id="0", data=body)], _query_options(request)
    else:
        if request.query_params:
            raise InvalidOptions("query parameters are only read for raw image bodies; put options in the body")
        if kind == "application/json":
            images, options = _parse_json(body)
        else:
            images, options = await _parse_multipart(request, settings)
    if not images:
        raise BadRequest("no image in the request", code="no_image")
    if len(images) > settings.max_images:
        raise TooLarge(f"{len(images)} images in one request, limit is {settings.max_images}", code="too_many_images")
    return images, options
