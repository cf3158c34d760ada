"""The interactive API documentation with no public CDN: FastAPI's Swagger UI and ReDoc pages load their scripts,
styles and icon from /docs/assets, a local copy of them that the ``fastapi-offline`` package ships. So the pages
work on a closed network and a browser fetches nothing from a third party. Installed only where ``FIQA_DOCS`` is
on (development); production turns it off."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs/assets"

router = APIRouter(include_in_schema=False)


def _url(request: Request, path: str) -> str:
    """``path`` under the root path the app is served at (behind a proxy prefix)."""
    return request.scope.get("root_path", "").rstrip("/") + path


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    return get_swagger_ui_html(
        openapi_url=_url(request, app.openapi_url or ""),
        title=f"{app.title} - Swagger UI",
        swagger_js_url=_url(request, f"{ASSETS_URL}/swagger-ui-bundle.js"),
        swagger_css_url=_url(request, f"{ASSETS_URL}/swagger-ui.css"),
        swagger_favicon_url=_url(request, f"{ASSETS_URL}/favicon.png"),
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    return get_redoc_html(
        openapi_url=_url(request, app.openapi_url or ""),
        title=f"{app.title} - ReDoc",
        redoc_js_url=_url(request, f"{ASSETS_URL}/redoc.standalone.js"),
        redoc_favicon_url=_url(request, f"{ASSETS_URL}/favicon.png"),
        with_google_fonts=False,
    )


def install(app: FastAPI) -> None:
    """Serve the documentation pages and their local assets on ``app`` (built with FastAPI's own pages off).
    The assets package is looked up here, so a gateway with the documentation off does not need it."""
    assets = files("fastapi_offline") / "static"
    app.mount(ASSETS_URL, StaticFiles(directory=str(assets)), name="docs-assets")
    app.include_router(router)
