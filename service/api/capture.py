"""The capture page (``GET /capture``; ``GET /`` leads to it): a person tries a photo or a live camera against this
gateway from a browser. Its HTML, script and style are package data (``service/static``), so an installed gateway
serves them and a browser loads nothing from a third party. The page's Content-Security-Policy allows scripts and
styles from this origin only (no inline script) and requests to this origin only (``connect-src 'self'``), so
frames can go nowhere else. Installed only where ``FIQA_CAPTURE_PAGE`` is on; off, both paths answer 404."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import RedirectResponse, Response

PAGE = "capture.html"
ASSETS = {"capture.js": "text/javascript; charset=utf-8", "capture.css": "text/css; charset=utf-8"}

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data: blob:",  # the quality-map overlays come as base64 PNG
        "media-src 'self' blob: mediastream:",  # the camera's stream
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    "Cache-Control": "no-cache",  # a new gateway version serves its own page, not a cached older one
}

router = APIRouter(include_in_schema=False)


# Beside the package's modules: ``service`` is a namespace package, which importlib.resources cannot read from under
# an editable install's path hook.
STATIC = Path(__file__).resolve().parent.parent / "static"


@cache
def _content(name: str) -> bytes:
    return (STATIC / name).read_bytes()


@router.get("/")
async def root() -> RedirectResponse:
    """The gateway's front door leads to the capture page (relative, so it holds behind a proxy prefix)."""
    return RedirectResponse("capture", status_code=307)


@router.get("/capture")
async def page() -> Response:
    return Response(_content(PAGE), media_type="text/html; charset=utf-8", headers=HEADERS)


@router.get("/capture/{name}")
async def asset(name: str) -> Response:
    if name not in ASSETS:
        raise HTTPException(404, "Not Found")
    return Response(_content(name), media_type=ASSETS[name], headers=HEADERS)


def install(app: FastAPI) -> None:
    """Serve the capture page on ``app``. Its files are read here, so a package installed without them fails at
    start rather than on a person's first visit."""
    for name in (PAGE, *ASSETS):
        _content(name)
    app.include_router(router)
