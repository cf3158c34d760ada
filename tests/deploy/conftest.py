"""Session fixtures of the deploy tests (helpers live in deploy_support.py)."""

from __future__ import annotations

import pytest

from tests.deploy.deploy_support import REPO, app_routes, exported_series, load_yaml


@pytest.fixture(scope="session")
def routes() -> set[str]:
    return app_routes()


@pytest.fixture(scope="session")
def series() -> set[str]:
    return exported_series()


@pytest.fixture(scope="session")
def compose() -> dict:
    return load_yaml(REPO / "docker-compose.yml")
