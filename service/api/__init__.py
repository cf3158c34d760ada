"""The HTTP application: the lifespan that starts the runtime, the request context (id, metrics, access line), the
error handlers (``handlers``), the access policy (``access``: API keys, rate limits), the routes (``routes``), the
documentation pages (``docs``) and the capture page (``capture``). Request parsing is in ``parsing``, and the
mapping of domain results to the response schema in ``responses``; no image or model logic lives in this
package."""

from __future__ import annotations

import re
import time
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from service import logs, metrics
from service.api import capture, docs, handlers
from service.api.access import Access
from service.api.openapi import build_openapi
from service.api.routes import metrics_router, router
from service.memory import return_large_buffers
from service.pipeline import Pipeline
from service.runtime import Runtime
from service.settings import Settings, get_settings

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


async def _request_context(request: Request, call_next):
    """Give the request its id (the client's when well-formed), then count, time and log its answer."""
    incoming = request.headers.get("x-request-id", "")
    request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    request.state.request_id = request_id
    started = time.perf_counter()
    try:
        response = await call_next(request)
    except Exception:  # anything a handler did not turn into an answer
        response = handlers.unexpected(request)
    route = request.scope.get("route")
    path = getattr(route, "path", "unmatched")
    status = str(response.status_code)
    metrics.REQUESTS.labels(route=path, method=request.method, status=status).inc()
    metrics.REQUEST_LATENCY.labels(route=path, status=status).observe(time.perf_counter() - started)
    response.headers["X-Request-ID"] = request_id
    fields = getattr(request.state, "log_fields", {})
    api_key = getattr(request.state, "api_key", None)  # the name of the key that authenticated, never the key
    if api_key is not None:
        fields = {**fields, "api_key": api_key}
    logs.access(request_id, request.method, path, response.status_code, time.perf_counter() - started, **fields)
    return response


def create_app(settings: Settings | None = None) -> FastAPI:
    """The gateway application; models load in the lifespan, before the first request is accepted. A keys file
    that cannot be read or parsed stops it here, before it serves anything."""
    settings = settings or get_settings()
    access = Access.from_settings(settings)
    return_large_buffers()

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
        # FastAPI's own pages load Swagger UI and ReDoc from a public CDN: ``docs`` serves local copies instead
        openapi_url="/openapi.json" if settings.docs else None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.access = access
    app.middleware("http")(_request_context)
    handlers.install(app)
    app.include_router(router)
    if settings.metrics_endpoint:
        app.include_router(metrics_router)
    if settings.docs:
        docs.install(app)
    if settings.capture_page:
        capture.install(app)
    app.openapi = lambda: build_openapi(app, settings, bool(access.keys))  # type: ignore[method-assign]
    return app
