"""What the deploy tests check the deployment files against: the metrics, routes and settings the gateway
really has, and the external validators (docker-compose, promtool) when they are installed.

A plain module (not conftest.py) so test modules can import it as ``tests.deploy.deploy_support``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.utils import floatToGoString

from service import metrics
from service.api import create_app
from service.api.routes import router
from service.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"

# Series a histogram, a counter and a gauge expose under their base name.
_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "counter": ("_total",), "gauge": ("",)}


def declared_collectors() -> list[MetricWrapperBase]:
    """Every collector service/metrics.py declares."""
    return [value for value in vars(metrics).values() if isinstance(value, MetricWrapperBase)]


def exported_series() -> set[str]:
    """Names of the series the gateway's /metrics can expose (e.g. fiqa_batch_size_bucket)."""
    names = set()
    for collector in declared_collectors():
        for family in collector.describe():
            names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


def bucket_bounds(series: str) -> set[str]:
    """``le`` label values a histogram exposes, formatted exactly as in the exposition."""
    for collector in declared_collectors():
        if collector._name + "_bucket" == series:
            return {floatToGoString(bound) for bound in collector._upper_bounds}
    raise KeyError(series)


def app_routes() -> set[str]:
    """Paths the gateway application serves (routes are declared without running the lifespan): the app's own
    (OpenAPI, docs) and those of the router it includes."""
    own = {route.path for route in create_app(Settings()).routes if hasattr(route, "path")}
    return own | {route.path for route in router.routes}


def settings_env_names() -> set[str]:
    """Environment variables service/settings.py reads (prefix FIQA_)."""
    return {f"FIQA_{name.upper()}" for name in Settings.model_fields}


def check_settings_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings built from ``env``: every FIQA_ name must be a real field and every value must parse."""
    unknown = {key for key in env if key.startswith("FIQA_")} - settings_env_names()
    assert not unknown, f"not settings of the gateway (typo?): {sorted(unknown)}"
    for key in list(os.environ):
        if key.startswith("FIQA_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    return Settings()


def load_yaml(path: Path) -> dict:
    with path.open() as handle:
        return yaml.safe_load(handle)


def require_binary(name: str) -> str:
    """The binary's path, or skip: CI installs them with `make tools` (Debian packages)."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (run `make tools`: apt-get install docker-compose prometheus)")
    return path


def run_tool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run a validator from the repository root and fail with its own output when it refuses."""
    done = subprocess.run([str(arg) for arg in args], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}"
    return done
