"""docker-compose.yml (+ the GPU override Compose loads by itself, + the CPU override): valid for Compose (Debian's
docker-compose 1.29 validates them), consistent with the gateway's settings and routes, Triton's ports and the
Prometheus and Grafana files they mount, and closed by default (loopback ports, a required Grafana password)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path, PurePosixPath

import pytest
import yaml

from tests.deploy.deploy_support import REPO, check_settings_env, load_yaml, require_binary, run_tool

# What plain `docker compose up` starts, and what the embedded profile adds.
STACK = {"triton", "gateway", "prometheus", "grafana"}
EMBEDDED = {"gateway-cpu"}
GPU_OVERRIDE = REPO / "docker-compose.override.yml"
CPU_OVERRIDE = REPO / "docker-compose.cpu.yml"
# Compose refuses the files without Grafana's admin password; any value does for validation.
PASSWORD = {"GF_ADMIN_PASSWORD": "validation-only"}


def _mounts(service: dict) -> dict[str, str]:
    """Container path -> host path (relative to the repository) of a service's bind mounts."""
    mounts = {}
    for volume in service.get("volumes", []):
        host, container, *_ = volume.split(":")
        if host.startswith("."):
            mounts[container] = str(PurePosixPath(host))
    return mounts


def _config(*files: Path, env: dict[str, str] | None = None, profile: str = "") -> subprocess.CompletedProcess[str]:
    """`docker-compose config` of ``files`` merged, from the repository root, with only ``env`` set."""
    binary = require_binary("docker-compose")
    selection = [item for path in files for item in ("-f", str(path))] + (["--profile", profile] if profile else [])
    return subprocess.run(
        [binary, "--project-directory", str(REPO), *selection, "config"],
        cwd=REPO, capture_output=True, text=True, timeout=120, env={"PATH": os.environ["PATH"], **(env or {})},
    )  # fmt: skip


def _merged(*files: Path) -> dict:
    done = _config(*files, env=PASSWORD)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)["services"]


@pytest.mark.parametrize("profile", [None, "embedded"])
def test_docker_compose_accepts_the_file(profile: str | None) -> None:
    binary = require_binary("docker-compose")
    selection = ["--profile", profile] if profile else []
    files = ("-f", REPO / "docker-compose.yml", "-f", GPU_OVERRIDE)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GF_ADMIN_PASSWORD", PASSWORD["GF_ADMIN_PASSWORD"])
        run_tool(binary, "--project-directory", REPO, *files, *selection, "config", "-q")


def test_grafana_password_is_required() -> None:
    """No default admin password: Compose stops with the variable's message when it is not set."""
    done = _config(REPO / "docker-compose.yml")
    assert done.returncode != 0 and "GF_ADMIN_PASSWORD" in done.stderr
    grafana = load_yaml(REPO / "docker-compose.yml")["services"]["grafana"]
    assert re.fullmatch(r"\$\{GF_ADMIN_PASSWORD:\?[^}]+\}", grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"])


def test_docker_compose_rejects_a_broken_file(tmp_path: Path) -> None:
    """The validator really validates: an unknown service key is refused."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text((REPO / "docker-compose.yml").read_text().replace("shm_size:", "shm_sise:"))
    done = _config(broken, env=PASSWORD)
    assert done.returncode != 0 and "shm_sise" in done.stderr


def test_plain_up_starts_the_full_stack(compose: dict) -> None:
    """`docker compose up` starts every service without a profile; the embedded gateway is opt-in."""
    services = compose["services"]
    assert {name for name, service in services.items() if not service.get("profiles")} == STACK
    assert {name for name, service in services.items() if "embedded" in service.get("profiles", [])} == EMBEDDED


def test_triton_is_built_with_its_repository(compose: dict) -> None:
    """The Triton image is the Dockerfile's triton stage (the repository baked in), not a bind mount of a
    folder a fresh clone does not fill."""
    triton = compose["services"]["triton"]
    assert triton["build"]["target"] == "triton" and triton["build"]["dockerfile"] == "Dockerfile"
    assert triton["build"]["args"]["TRITON_INSTANCE_KIND"] == "KIND_GPU"
    assert "/models" not in _mounts(triton)
    command = triton["command"]
    assert "--model-repository=/models" in command and "--metrics-port=8002" in command
    assert "--exit-on-error=false" in command, "one model that fails to load must not stop Triton"
    assert "/v2/health/ready" in " ".join(triton["healthcheck"]["test"])


def test_gpu_override_reserves_a_gpu_and_the_cpu_override_does_not() -> None:
    gpu = _merged(REPO / "docker-compose.yml", GPU_OVERRIDE)["triton"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert gpu["build"]["args"]["TRITON_INSTANCE_KIND"] == "KIND_GPU"
    cpu = _merged(REPO / "docker-compose.yml", CPU_OVERRIDE)
    assert set(cpu) >= STACK
    assert "deploy" not in cpu["triton"] and cpu["triton"]["build"]["args"]["TRITON_INSTANCE_KIND"] == "KIND_CPU"
    assert cpu["triton"]["image"] != gpu["image"], "the CPU build must not overwrite the GPU image"


def test_monitoring_ports_are_bound_to_loopback(compose: dict) -> None:
    services = compose["services"]
    for name in ("prometheus", "grafana"):
        (port,) = services[name]["ports"]
        assert port.startswith("127.0.0.1:"), name
    assert not any("lifecycle" in arg for arg in services["prometheus"]["command"])


def test_gateways_use_real_settings_routes_and_backends(
    compose: dict, routes: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = compose["services"]
    gpu = check_settings_env(services["gateway"]["environment"], monkeypatch)
    assert gpu.backend == "triton"
    host, port = gpu.triton_url.split(":")
    assert host in services and port == "8001" and gpu.triton_protocol == "grpc"
    assert services["gateway"]["depends_on"]["triton"]["condition"] == "service_healthy"
    assert services["gateway"]["build"]["target"] == "runtime"
    cpu = check_settings_env(services["gateway-cpu"]["environment"], monkeypatch)
    assert cpu.backend == "onnxruntime"
    for name in ("gateway", "gateway-cpu"):
        service = services[name]
        assert service["build"]["context"] == "." and service["build"]["dockerfile"] == "Dockerfile"
        assert "${FIQA_GATEWAY_PORT:-8000}:8000" in service["ports"]
        paths = re.findall(r"127\.0\.0\.1:8000(/[\w/-]*)", " ".join(service["healthcheck"]["test"]))
        assert paths and set(paths) <= routes


def test_prometheus_scrapes_the_compose_services(compose: dict) -> None:
    services = compose["services"]
    prometheus = services["prometheus"]
    config_file = next(arg.split("=", 1)[1] for arg in prometheus["command"] if arg.startswith("--config.file="))
    config_dir = str(PurePosixPath(config_file).parent)
    assert _mounts(prometheus)[config_dir] == "deploy/prometheus"
    assert (REPO / "deploy/prometheus" / PurePosixPath(config_file).name).is_file()
    listening = {
        "gateway": {"8000"},
        "gateway-cpu": {"8000"},
        "triton": {arg.split("=", 1)[1] for arg in services["triton"]["command"] if arg.startswith("--metrics-port=")},
        "prometheus": {"9090"},
    }
    config = load_yaml(REPO / "deploy/prometheus/prometheus.yml")
    targets = {
        job["job_name"]: [t for group in job["static_configs"] for t in group["targets"]]
        for job in config["scrape_configs"]
    }
    assert set(targets["gateway"]) == {"gateway:8000", "gateway-cpu:8000"}
    assert targets["triton"] == ["triton:8002"]
    for target in (t for job in targets.values() for t in job):
        host, port = target.split(":")
        if host == "localhost":
            host = "prometheus"
        assert host in services and port in listening[host], target


def test_grafana_mounts_the_provisioning_and_dashboards(compose: dict) -> None:
    grafana = compose["services"]["grafana"]
    mounts = _mounts(grafana)
    assert mounts["/etc/grafana/provisioning"] == "deploy/grafana/provisioning"
    providers = load_yaml(REPO / "deploy/grafana/provisioning/dashboards/fiqa.yml")["providers"]
    (provider,) = providers
    assert mounts[provider["options"]["path"]] == "deploy/grafana/dashboards"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(provider["options"]["path"] + "/")
    assert (REPO / "deploy/grafana/dashboards" / PurePosixPath(home).name).is_file()
    (source,) = load_yaml(REPO / "deploy/grafana/provisioning/datasources/prometheus.yml")["datasources"]
    assert source["url"] == "http://prometheus:9090"


def test_container_test_override_swaps_only_the_cpu_stack_images(compose: dict) -> None:
    """`make container-test` runs the real file: its override may replace images, nothing else."""
    override = load_yaml(REPO / "deploy/container-test/compose.override.yml")["services"]
    assert set(override) == {"gateway-cpu", "prometheus"} <= set(compose["services"])
    assert all(set(service) == {"image"} for service in override.values())
    images = {"FIQA_TEST_GATEWAY_IMAGE": "local/gateway", "FIQA_TEST_PROMETHEUS_IMAGE": "local/prometheus"}
    done = _config(
        REPO / "docker-compose.yml",
        REPO / "deploy/container-test/compose.override.yml",
        env={**images, **PASSWORD},
        profile="embedded",
    )
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert services["gateway-cpu"]["image"] == "local/gateway" and services["prometheus"]["image"] == "local/prometheus"
    assert services["gateway-cpu"]["environment"] == compose["services"]["gateway-cpu"]["environment"]
