"""docker-compose.yml: valid for Compose (Debian's docker-compose 1.29 validates it), and consistent with
the gateway's settings and routes, Triton's ports and the Prometheus and Grafana files it mounts."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path, PurePosixPath

import pytest
import yaml

from tests.deploy.deploy_support import REPO, check_settings_env, load_yaml, require_binary, run_tool

PROFILES = {"gpu": {"triton", "gateway", "prometheus", "grafana"}, "cpu": {"gateway-cpu", "prometheus", "grafana"}}


def _mounts(service: dict) -> dict[str, str]:
    """Container path -> host path (relative to the repository) of a service's bind mounts."""
    mounts = {}
    for volume in service.get("volumes", []):
        host, container, *_ = volume.split(":")
        if host.startswith("."):
            mounts[container] = str(PurePosixPath(host))
    return mounts


@pytest.mark.parametrize("profile", [None, "cpu", "gpu"])
def test_docker_compose_accepts_the_file(profile: str | None) -> None:
    binary = require_binary("docker-compose")
    selection = ["--profile", profile] if profile else []
    run_tool(binary, "--project-directory", REPO, "-f", REPO / "docker-compose.yml", *selection, "config", "-q")


def test_docker_compose_rejects_a_broken_file(tmp_path: Path) -> None:
    """The validator really validates: an unknown service key is refused."""
    binary = require_binary("docker-compose")
    broken = tmp_path / "docker-compose.yml"
    broken.write_text((REPO / "docker-compose.yml").read_text().replace("shm_size:", "shm_sise:"))
    done = subprocess.run([binary, "-f", str(broken), "config", "-q"], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "shm_sise" in done.stderr


def test_profiles_select_the_gpu_and_cpu_stacks(compose: dict) -> None:
    services = compose["services"]
    for profile, expected in PROFILES.items():
        selected = {name for name, service in services.items() if profile in service.get("profiles", [])}
        assert selected == expected, profile


def test_triton_service(compose: dict) -> None:
    triton = compose["services"]["triton"]
    assert re.fullmatch(r"nvcr\.io/nvidia/tritonserver:24\.\d\d-py3", triton["image"])
    command = triton["command"]
    assert "--model-repository=/models" in command and "--metrics-port=8002" in command
    assert _mounts(triton)["/models"] == "model_repository"
    (device,) = triton["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert "/v2/health/ready" in " ".join(triton["healthcheck"]["test"])


def test_gateways_use_real_settings_routes_and_backends(
    compose: dict, routes: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = compose["services"]
    gpu = check_settings_env(services["gateway"]["environment"], monkeypatch)
    assert gpu.backend == "triton"
    host, port = gpu.triton_url.split(":")
    assert host in services and port == "8001" and gpu.triton_protocol == "grpc"
    assert services["gateway"]["depends_on"]["triton"]["condition"] == "service_healthy"
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
    binary = require_binary("docker-compose")
    images = {"FIQA_TEST_GATEWAY_IMAGE": "local/gateway", "FIQA_TEST_PROMETHEUS_IMAGE": "local/prometheus"}
    done = subprocess.run(
        [binary, "--project-directory", REPO, "-f", REPO / "docker-compose.yml", "-f",
         REPO / "deploy/container-test/compose.override.yml", "--profile", "cpu", "config"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={"PATH": os.environ["PATH"], **images},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert services["gateway-cpu"]["image"] == "local/gateway" and services["prometheus"]["image"] == "local/prometheus"
    assert services["gateway-cpu"]["environment"] == compose["services"]["gateway-cpu"]["environment"]
