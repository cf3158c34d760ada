"""The one place where errors become HTTP answers: typed service errors, Starlette's own (404, 405...) and anything
unexpected, each as an ``ErrorBody`` that carries the request id."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service import metrics
from service.errors import ServiceError
from service.schemas import ErrorBody

log = logging.getLogger("service.api")


def error_response(error: ServiceError, request_id: str | None) -> JSONResponse:
    body = ErrorBody(
        error={"code": error.code, "message": error.message},
        details=getattr(error, "details", []),
        request_id=request_id,
    )
    return JSONResponse(body.model_dump(), status_code=error.status, headers=error.headers)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


async def _service_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ServiceError)
    if error.status == 503:
        metrics.REJECTED.labels(reason=error.code).inc()
    elif error.status in (401, 429):
        metrics.DENIED.labels(reason=error.code).inc()
    request.state.log_fields = {"error": error.code}
    return error_response(error, _request_id(request))


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    """Starlette's own answers (404, 405...) in our error body, keeping their headers (``Allow`` on a 405)."""
    assert isinstance(error, StarletteHTTPException)
    service = ServiceError(str(error.detail), code=re.sub(r"\W+", "_", str(error.detail)).strip("_").lower())
    service.status = error.status_code
    service.headers = dict(error.headers or {})
    return error_response(service, _request_id(request))


def unexpected(request: Request) -> JSONResponse:
    """The answer to an error nothing else handled: one logged traceback, a 500 that still carries the request id.
    Called by the request-context middleware, inside which every route runs."""
    log.exception("unhandled error", extra={"request_id": _request_id(request)})
    return error_response(ServiceError("internal error"), _request_id(request))


def install(app: FastAPI) -> None:
    """Register the error handlers on ``app``."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
