"""service.api.capture: the capture page and its assets are served from the package with a strict
Content-Security-Policy (scripts, styles and requests to this origin only, no inline script), ``/`` leads to it,
``FIQA_CAPTURE_PAGE=false`` removes both, the OpenAPI document does not list them, and an installed gateway has
the files (package data). The page itself, in a real browser: ``test_capture_browser.py``."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from service.api import create_app
from service.api.capture import ASSETS
from service.api.keys import hash_key
from service.settings import Settings

REPO = Path(__file__).resolve().parents[3]


def _client(**settings) -> TestClient:
    """An app whose lifespan is not entered: the page needs no model."""
    return TestClient(create_app(Settings(warmup=False, **settings)), follow_redirects=False)


def _policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


class _Tags(HTMLParser):
    """Every start tag of a page with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_page_is_served_with_a_strict_policy() -> None:
    page = _client().get("/capture")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = _policy(page.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"] and policy["connect-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"] and page.headers["x-content-type-options"] == "nosniff"
    assert "camera=(self)" in page.headers["permissions-policy"]


def test_the_page_has_no_inline_code_and_loads_only_its_own_assets() -> None:
    client = _client()
    parser = _Tags()
    parser.feed(client.get("/capture").text)
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert scripts and all(attrs.get("src") for attrs in scripts)  # no inline script for the policy to refuse
    assert not [(tag, name) for tag, attrs in parser.tags for name in attrs if name.startswith("on") or name == "style"]
    links = [attrs for tag, attrs in parser.tags if tag == "link"]
    loaded = [attrs["src"] for attrs in scripts] + [attrs["href"] for attrs in links if attrs["rel"] == "stylesheet"]
    assert sorted(loaded) == sorted(f"capture/{name}" for name in ASSETS)  # relative: this origin, under any prefix
    assert [attrs["href"] for attrs in links if attrs["rel"] != "stylesheet"] == ["data:,"]  # an icon, not fetched
    for name, media_type in ASSETS.items():
        asset = client.get(f"/capture/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"] == media_type
        assert asset.headers["x-content-type-options"] == "nosniff"


def test_the_script_sends_only_to_relative_paths() -> None:
    """Requests leave by ``fetch`` only, to paths relative to the page (the policy refuses any other origin)."""
    script = _client().get("/capture/capture.js").text
    assert "XMLHttpRequest" not in script and "WebSocket" not in script and "sendBeacon" not in script
    assert "localStorage" not in script and "sessionStorage" not in script  # the API key is never stored
    targets = [call.split(",")[0].split(")")[0].strip() for call in script.split("fetch(")[1:]]
    assert targets == ['"v1/models"', '"score"']


def test_root_leads_to_the_page_and_unknown_assets_are_404() -> None:
    client = _client()
    root = client.get("/")
    assert root.status_code == 307 and root.headers["location"] == "capture"
    missing = client.get("/capture/other.js")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_a_keyed_gateway_serves_the_page_without_a_key() -> None:
    """The page holds nothing secret; the person types the key into it, and the API it calls asks for it."""
    keyed = _client(api_key_hashes=[hash_key("a key")])
    assert keyed.get("/capture").status_code == 200 and keyed.get("/capture/capture.js").status_code == 200
    assert keyed.get("/v1/models").status_code == 401


@pytest.mark.parametrize("path", ["/", "/capture", "/capture/capture.js"])
def test_the_setting_turns_the_page_off(path: str) -> None:
    assert _client(capture_page=False).get(path).status_code == 404


def test_the_page_is_not_an_api_operation() -> None:
    paths = _client().get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path == "/" or path.startswith("/capture")]


@pytest.mark.slow
def test_an_installed_gateway_has_the_page(tmp_path: Path) -> None:
    """Built from what the gateway image copies (pyproject.toml and service/), outside the checkout."""
    source = tmp_path / "source"
    shutil.copytree(REPO / "service", source / "service", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", source)
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)]
    subprocess.run([*build, str(source)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("fiqa_service-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"service/static/{name}" for name in ["capture.html", *ASSETS]} <= names
