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


def _under_root(request: Request, path: str) -> str:
    """``path`` under the root path the app is served at (behind a proxy prefix)."""
    return request.scope.get("root_path", "").rstrip("/") + path


def _asset(request: Request, name: str) -> str:
    return _under_root(request, f"{ASSETS_URL}/{name}")


def _spec(request: Request) -> str:
    return _under_root(request, request.app.openapi_url or "")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    title = f"{request.app.title} - Swagger UI"
    js, css, icon = (_asset(request, name) for name in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"))
    return get_swagger_ui_html(
        openapi_url=_spec(request), title=title, swagger_js_url=js, swagger_css_url=css, swagger_favicon_url=icon
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    title = f"{request.app.title} - ReDoc"
    js, icon = _asset(request, "redoc.standalone.js"), _asset(request, "favicon.png")
    return get_redoc_html(
        openapi_url=_spec(request), title=title, redoc_js_url=js, redoc_favicon_url=icon, with_google_fonts=False
    )


def install(app: FastAPI) -> None:
    """Serve the documentation pages and their local assets on ``app`` (built with FastAPI's own pages off).
    The assets package is looked up here, so a gateway with the documentation off does not need it."""
    try:
        assets = files("fastapi_offline") / "static"
    except ModuleNotFoundError as error:
        raise RuntimeError("FIQA_DOCS is on but fastapi-offline is not installed (`make install`)") from error
    app.mount(ASSETS_URL, StaticFiles(directory=str(assets)), name="docs-assets")
    app.include_router(router)
