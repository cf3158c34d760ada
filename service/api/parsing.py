"""A ``POST /score`` (or ``POST /select``) request -> images and options: raw image bodies, base64 JSON or
multipart, with the body size bounded while it streams. Image bytes that cannot be read (bad base64) become that
image's error, not the request's."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect

from service.errors import (
    BadImage,
    BadRequest,
    BodyTimeout,
    ClientGone,
    InvalidOptions,
    ServiceError,
    TooLarge,
    UnsupportedMediaType,
)
from service.pipeline import ImageInput
from service.schemas import ScoreOptions, ScoreRequest, SelectRequest
from service.settings import Settings

RAW_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
_DATA_URL = re.compile(r"^data:[\w/+.-]+;base64,")
_WHITESPACE = re.compile(rb"[ \t\r\n]+")
MAX_JSON_DEPTH = 32  # the deepest a valid request nests is 4 (body, images, image, options.models)


@dataclass(frozen=True)
class BodyForm:
    """What a route's body holds: its JSON request model (whose ``options`` field gives the options model), the
    most images it takes and what they are called in its errors."""

    model: type[ScoreRequest] | type[SelectRequest]
    limit: int
    noun: str = "images"

    @property
    def options(self) -> type[ScoreOptions]:
        return self.model.model_fields["options"].annotation  # type: ignore[return-value]

    def too_many(self, message: str) -> TooLarge:
        return TooLarge(message, code=f"too_many_{self.noun}")


def score_form(settings: Settings) -> BodyForm:
    return BodyForm(ScoreRequest, settings.max_images)


def select_form(settings: Settings) -> BodyForm:
    return BodyForm(SelectRequest, settings.max_select_frames, "frames")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise BadRequest(f"duplicate JSON key(s) {repeated}: each key may appear once", code="duplicate_key")
    return dict(pairs)


def _depth(value: Any) -> int:
    """Nesting depth of decoded JSON, iteratively (a recursive walk is what deep input is meant to break)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def load_json(text: str | bytes, what: str, code: str) -> Any:
    """Strict JSON: no duplicate keys, nesting at most ``MAX_JSON_DEPTH`` deep, else a 400 naming ``what``."""
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc}", code=code) from exc
    except RecursionError:
        value = None
        depth = MAX_JSON_DEPTH + 1
    else:
        depth = _depth(value)
    if depth > MAX_JSON_DEPTH:
        raise BadRequest(f"{what} nests deeper than {MAX_JSON_DEPTH} levels", code="json_too_deep")
    return value


def validation_details(error: ValidationError, prefix: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Pydantic's errors as the ``details`` of an error body (no input echoed back, no documentation URLs)."""
    return [
        {"loc": [*prefix, *map(str, item["loc"])], "msg": item["msg"], "type": item["type"]}
        for item in error.errors(include_url=False, include_context=False, include_input=False)
    ]


async def read_body(request: Request, settings: Settings) -> bytes:
    """The whole body, refused as soon as it passes ``max_body_bytes`` (declared or streamed) or takes longer than
    ``body_timeout_s`` to arrive; both answers close the connection, so the rest of a large body is never read."""
    limit, close = settings.max_body_bytes, {"Connection": "close"}
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(
            f"request body of {declared} bytes exceeds the {limit}-byte limit", code="body_too_large", headers=close
        )
    chunks, size = [], 0
    try:
        async with asyncio.timeout(settings.body_timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"request body exceeds the {limit}-byte limit", code="body_too_large", headers=close)
                chunks.append(chunk)
    except TimeoutError as exc:
        raise BodyTimeout(f"the body did not arrive within {settings.body_timeout_s} s", headers=close) from exc
    except ClientDisconnect as exc:
        raise ClientGone("the client closed the connection while sending its body") from exc
    body = b"".join(chunks)
    request._body = body  # lets Starlette's form parser read the body we already hold
    return body


def _options(form: BodyForm, raw: Any, where: tuple[str, ...], strict: bool = True) -> ScoreOptions:
    """Options as sent; JSON values must have their declared types (no "50" for 50, no true for 1)."""
    try:
        return form.options.model_validate(raw, strict=strict)
    except ValidationError as exc:
        raise InvalidOptions("invalid options", details=validation_details(exc, where)) from exc


def _decode_base64(text: str) -> bytes:
    """Base64 as ``base64`` prints it too: MIME line breaks (76 columns) and a data: URL prefix are allowed."""
    try:
        return base64.b64decode(_WHITESPACE.sub(b"", _DATA_URL.sub("", text.strip()).encode("ascii")), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise BadImage("image data is not valid base64", code="invalid_base64") from exc


def _parse_json(body: bytes, form: BodyForm) -> tuple[list[ImageInput], ScoreOptions]:
    payload = load_json(body, "body", "invalid_json")
    try:
        parsed = form.model.model_validate(payload, strict=True)
    except ValidationError as exc:
        details = validation_details(exc)
        if any(item["loc"][:1] == ["options"] for item in details):
            raise InvalidOptions("invalid options", details=details) from exc
        error = InvalidOptions(f"request does not match the {form.model.__name__} schema", details=details)
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


async def _parse_multipart(
    request: Request, settings: Settings, body_form: BodyForm
) -> tuple[list[ImageInput], ScoreOptions]:
    try:
        form = await request.form(max_files=body_form.limit + 1, max_fields=8, max_part_size=settings.max_body_bytes)
    except (MultiPartException, StarletteHTTPException) as exc:  # Starlette wraps most parser errors in the latter
        message = str(exc.message if isinstance(exc, MultiPartException) else exc.detail)
        if message.startswith("Too many files"):  # Starlette counts to our limit + 1: say our own limit
            raise body_form.too_many(f"more than {body_form.limit} {body_form.noun} in one request") from exc
        raise BadRequest(f"malformed multipart body: {message}", code="invalid_multipart") from exc
    images: list[ImageInput] = []
    options: Any = {}
    for field, value in form.multi_items():
        if isinstance(value, UploadFile):
            images.append(ImageInput(id=value.filename or field, data=await value.read()))
        elif field == "options":
            try:
                options = load_json(value, "options field", "invalid_options")
            except BadRequest as error:
                if error.code == "json_too_deep":
                    raise
                raise InvalidOptions(error.message) from error
        else:
            raise InvalidOptions(
                f"unknown form field {field!r}: send images as files and options as a JSON 'options' field",
                details=[{"loc": ["form", field], "type": "extra_forbidden"}],
            )
    return images, _options(body_form, options, ("options",))


def _query_options(request: Request, form: BodyForm) -> ScoreOptions:
    raw: dict[str, Any] = dict(request.query_params)
    if "models" in raw:
        raw["models"] = [name for name in raw["models"].split(",") if name]
    if raw.get("measures", "none") not in ("none", "default", "all"):
        raw["measures"] = [name for name in raw["measures"].split(",") if name]
    return _options(form, raw, ("query",), strict=False)  # query values are text: "0.5" is read as 0.5


async def parse_score_request(
    request: Request, settings: Settings, form: BodyForm | None = None
) -> tuple[list[ImageInput], ScoreOptions]:
    """Images and options of one ``POST /score`` (or of the route ``form`` describes: ``/select``), whichever of the
    three body forms it uses, within the limits."""
    form = form or score_form(settings)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in RAW_IMAGE_TYPES | {"application/json", "multipart/form-data"}:
        raise UnsupportedMediaType(
            f"content type {kind or '(none)'!r} is not accepted; use multipart/form-data, "
            f"application/json or one of {sorted(RAW_IMAGE_TYPES)}"
        )
    body = await read_body(request, settings)
    if not body:
        raise BadRequest("request body is empty", code="empty_body")
    if kind in RAW_IMAGE_TYPES:
        images, options = [ImageInput(id="0", data=body)], _query_options(request, form)
    else:
        if request.query_params:
            raise InvalidOptions("query parameters are only read for raw image bodies; put options in the body")
        if kind == "application/json":
            images, options = _parse_json(body, form)
        else:
            images, options = await _parse_multipart(request, settings, form)
    if not images:
        raise BadRequest("no image in the request", code="no_image")
    if len(images) > form.limit:
        raise form.too_many(f"{len(images)} {form.noun} in one request, limit is {form.limit}")
    return images, options
