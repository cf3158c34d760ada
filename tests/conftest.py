"""Shared fixtures: where the read-only face data lives, and a running gateway app."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from service.api import create_app
from service.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("FIQA_SHARED_DATA", REPO.parent / "shared" / "data"))


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: integration tests must run, not skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def unavailable():
    """What to do when a real server a test needs cannot be had: skip on a developer's machine, fail under CI
    (``CI=true``), where `make test` promises these tests run and a silent skip would leave CI green without them."""
    return _unavailable


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The read-only face data (../shared/data beside the checkout, as in CI)."""
    if not (SHARED_DATA / "samples").is_dir():
        pytest.fail(f"face data not found at {SHARED_DATA}; set FIQA_SHARED_DATA")
    return SHARED_DATA


@pytest.fixture(scope="session")
def samples(data_dir: Path) -> Path:
    return data_dir / "samples"


def _make_client(**overrides) -> TestClient:
    """A TestClient over a fresh app; networks are not warmed up (a full batch through every network costs seconds
    per app) unless a test about warm-up passes ``warmup=True``."""
    return TestClient(create_app(Settings(**{"warmup": False, **overrides})), raise_server_exceptions=False)


@pytest.fixture(scope="session")
def make_client():
    """Factory of TestClients over fresh apps with setting overrides (no warm-up unless ``warmup=True``); enter it
    (``with``) to load models."""
    return _make_client


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """A gateway with default settings, models loaded, shared by a test module."""
    with _make_client() as test_client:
        yield test_client
