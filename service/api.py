"""HTTP layer: routes, request parsing and the one place where errors become HTTP answers."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException

from service import logs, metrics
from service.errors import (
    BackendUnavailable,
    BadImage,
    BadRequest,
    InvalidOptions,
    RequestTimeout,
    ServiceError,
    TooLarge,
    UnsupportedMediaType,
)
from service.pipeline import ImageInput, Pipeline
from service.runtime import Runtime
from service.schemas import ErrorBody, ScoreOptions, ScoreRequest, ScoreResponse
from service.settings import Settings, get_settings

log = logging.getLogger("service.api")

RAW_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_DATA_URL = re.compile(r"^data:[\w/+.-]+;base64,")


def _validation_details(error: ValidationError, prefix: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [
        {"loc": [*prefix, *map(str, item["loc"])], "msg": item["msg"], "type": item["type"]}
        for item in error.errors(include_url=False, include_context=False, include_input=False)
    ]


def _error_response(error: ServiceError, request_id: str | None) -> JSONResponse:
    body = ErrorBody(
        error={"code": error.code, "message": error.message},
        details=getattr(error, "details", []),
        request_id=request_id,
    )
    return JSONResponse(body.model_dump(), status_code=error.status, headers=error.headers)


async def _read_body(request: Request, limit: int) -> bytes:
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
        raise InvalidOptions("invalid options", details=_validation_details(exc, where)) from exc


def _decode_base64(text: str) -> bytes:
    try:
        return base64.b64decode(_DATA_URL.sub("", text.strip()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadImage("image data is not valid base64", code="invalid_base64") from exc


async def _parse_json(body: bytes) -> tuple[list[ImageInput], ScoreOptions]:
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}", code="invalid_json") from exc
    try:
        parsed = ScoreRequest.model_validate(payload)
    except ValidationError as exc:
        details = _validation_details(exc)
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


def create_app(settings: Settings | None = None) -> FastAPI:
    """The gateway application; models load in the lifespan, before the first request is accepted."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with Runtime(settings) as runtime:
            app.state.pipeline = Pipeline(runtime)
            yield

    app = FastAPI(
        title="FIQA gateway",
        version="0.1.0",
        description="Face image quality assessment at capture time: detect, align, score, decide.",
        lifespan=lifespan,
    )
    app.state.settings = settings

    @app.middleware("http")
    async def request_context(request: Request, call_next):
        incoming = request.headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.state.request_id = request_id
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        status = str(response.status_code)
        metrics.REQUESTS.labels(route=path, method=request.method, status=status).inc()
        metrics.REQUEST_LATENCY.labels(route=path, status=status).observe(time.perf_counter() - started)
        response.headers["X-Request-ID"] = request_id
        fields = getattr(request.state, "log_fields", {})
        logs.access(request_id, request.method, path, response.status_code, time.perf_counter() - started, **fields)
        return response

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, error: ServiceError) -> JSONResponse:
        if error.status == 503:
            metrics.REJECTED.labels(reason=error.code).inc()
        request.state.log_fields = {"error": error.code}
        return _error_response(error, getattr(request.state, "request_id", None))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        service = ServiceError(str(error.detail), code=re.sub(r"\W+", "_", str(error.detail)).strip("_").lower())
        service.status = error.status_code
        return _error_response(service, getattr(request.state, "request_id", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"request_id": getattr(request.state, "request_id", None)})
        return _error_response(ServiceError("internal error"), getattr(request.state, "request_id", None))

    score_body = {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ScoreRequest"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "images": {"type": "array", "items": {"type": "string", "format": "binary"}},
                            "options": {"type": "string", "description": "ScoreOptions as JSON"},
                        },
                    }
                },
                **{kind: {"schema": {"type": "string", "format": "binary"}} for kind in sorted(RAW_IMAGE_TYPES)},
            },
        }
    }
    error_responses: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorBody} for code in (400, 413, 415, 422, 503)
    }

    @app.post("/score", response_model=ScoreResponse, openapi_extra=score_body, responses=error_responses)
    async def score(request: Request) -> ScoreResponse:
        """Score every face of one or more images (multipart files, base64 JSON, or a raw image body)."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in RAW_IMAGE_TYPES | {"application/json", "multipart/form-data"}:
            raise UnsupportedMediaType(
                f"content type {kind or '(none)'!r} is not accepted; use multipart/form-data, "
                f"application/json or one of {sorted(RAW_IMAGE_TYPES)}"
            )
        body = await _read_body(request, settings.max_body_bytes)
        if not body:
            raise BadRequest("request body is empty", code="empty_body")
        if kind in RAW_IMAGE_TYPES:
            images, options = [ImageInput(id="0", data=body)], _query_options(request)
        else:
            if request.query_params:
                raise InvalidOptions("query parameters are only read for raw image bodies; put options in the body")
            if kind == "application/json":
                images, options = await _parse_json(body)
            else:
                images, options = await _parse_multipart(request, settings)
        if not images:
            raise BadRequest("no image in the request", code="no_image")
        if len(images) > settings.max_images:
            raise TooLarge(
                f"{len(images)} images in one request, limit is {settings.max_images}", code="too_many_images"
            )
        pipeline: Pipeline = request.app.state.pipeline
        try:
            async with asyncio.timeout(settings.request_timeout_s):
                response = await pipeline.score(images, options, request.state.request_id)
        except TimeoutError as exc:
            raise RequestTimeout(f"scoring took longer than {settings.request_timeout_s} s") from exc
        request.state.log_fields = logs.response_fields(response)
        return response

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive and its event loop answers."""
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"model": ErrorBody}})
    async def readyz(request: Request) -> dict[str, Any]:
        """Models are loaded and the inference backend answers."""
        pipeline: Pipeline | None = getattr(request.app.state, "pipeline", None)
        if pipeline is None or not await pipeline.backend.ready():
            raise BackendUnavailable("inference backend is not ready", code="not_ready")
        return {"status": "ready", "backend": pipeline.backend.name}

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        """Every model card, what really runs each network, and the decision defaults with their sources."""
        pipeline: Pipeline = request.app.state.pipeline
        cards = []
        for name, card in pipeline.registry.cards.items():
            entry = card.model_dump(exclude_none=True)
            if card.file:
                entry["runtime"] = pipeline.backend.describe(name)
            if card.kind == "quality":
                value, source = pipeline.threshold_of(name)
                entry["decision_threshold"] = {"value": value, "source": source}
                entry["default"] = name == settings.default_models[0]
                entry["available"] = name in pipeline.methods
            cards.append(entry)
        return {
            "backend": pipeline.backend.name,
            "default_models": settings.default_models,
            "decision_defaults": {
                "min_face_size": settings.min_face_size,
                "single_face": settings.single_face,
                "max_out_of_frame": settings.max_out_of_frame,
                "max_faces": settings.max_faces,
            },
            "models": cards,
        }

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
