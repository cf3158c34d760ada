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
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class RequestContext:
    """Give each HTTP request its id (the client's when well-formed), then count, time and log its answer.

    A plain ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``: that one runs every request through an
    extra task group and a streamed copy of the response, a cost on every /score call (loadtests/profile_score.py).
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        incoming = request.headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.state.request_id = request_id
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:  # anything a handler did not turn into an answer
            if status:  # the answer had begun: nothing else can be sent on this request
                raise
            await handlers.unexpected(request)(scope, receive, send_with_id)
        finally:
            self._record(request, request_id, status, time.perf_counter() - started)

    @staticmethod
    def _record(request: Request, request_id: str, status: int, latency_s: float) -> None:
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.REQUESTS.labels(route=path, method=request.method, status=str(status)).inc()
        metrics.REQUEST_LATENCY.labels(route=path, status=str(status)).observe(latency_s)
        fields = getattr(request.state, "log_fields", {})
        api_key = getattr(request.state, "api_key", None)  # the name of the key that authenticated, never the key
        if api_key is not None:
            fields = {**fields, "api_key": api_key}
        logs.access(request_id, request.method, path, status, latency_s, **fields)


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
    app.add_middleware(RequestContext)
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
