"""deploy/kubernetes: every manifest parses and passes the Kubernetes 1.30 OpenAPI schemas (PyPI
``kubernetes-validate``, strict: unknown fields are errors); probes hit routes the gateway really serves,
Services reach ports the containers declare, the HPA scales the gateway on metrics prometheus-adapter
really provides from metrics the gateway really exports."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.deploy.deploy_support import REPO, check_settings_env, load_yaml

K8S = REPO / "deploy/kubernetes"
K8S_VERSION = "1.30.0"
TRITON_PROBES = {"/v2/health/ready", "/v2/health/live"}  # KServe v2 protocol, served by Triton


def _documents() -> list[tuple[str, dict]]:
    documents = []
    for path in sorted(K8S.glob("*.yaml")):
        with path.open() as handle:
            documents.extend((path.name, doc) for doc in yaml.safe_load_all(handle) if doc is not None)
    return documents


def _resources() -> list[dict]:
    return [doc for _, doc in _documents() if doc["kind"] != "Kustomization"]


def _one(kind: str, name: str) -> dict:
    (found,) = [doc for doc in _resources() if doc["kind"] == kind and doc["metadata"]["name"] == name]
    return found


def _container(deployment: dict) -> dict:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_manifests_parse_with_identity_and_one_namespace() -> None:
    resources = _resources()
    assert {doc["kind"] for doc in resources} >= {"Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap"}
    for doc in resources:
        assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"]
        namespace = doc["metadata"]["name"] if doc["kind"] == "Namespace" else doc["metadata"]["namespace"]
        assert namespace == "fiqa", doc["metadata"]["name"]


def test_manifests_match_the_kubernetes_schemas() -> None:
    validator = pytest.importorskip("kubernetes_validate", reason="PyPI kubernetes-validate (test extra)")
    for _, doc in _documents():
        if doc["kind"] != "Kustomization":
            validator.validate(doc, K8S_VERSION, strict=True)


def test_schema_validation_catches_a_misspelt_probe() -> None:
    validator = pytest.importorskip("kubernetes_validate", reason="PyPI kubernetes-validate (test extra)")
    deployment = _one("Deployment", "fiqa-gateway")
    container = _container(deployment)
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(validator.ValidationError):
        validator.validate(deployment, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    (kustomization,) = [doc for _, doc in _documents() if doc["kind"] == "Kustomization"]
    files = {name for name, doc in _documents() if doc["kind"] != "Kustomization"}
    assert set(kustomization["resources"]) == files


def test_gateway_probes_hit_real_routes(routes: set[str]) -> None:
    container = _container(_one("Deployment", "fiqa-gateway"))
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] in routes
        assert get["port"] in {port["name"] for port in container["ports"]}
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert container["command"] == ["fiqa-service", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert container["ports"][0]["containerPort"] == 8000


def test_triton_has_a_gpu_probes_and_the_model_repository() -> None:
    container = _container(_one("Deployment", "fiqa-triton"))
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] in TRITON_PROBES
    args = container["args"]
    repository = next(arg.split("=", 1)[1] for arg in args if arg.startswith("--model-repository="))
    assert repository in {mount["mountPath"] for mount in container["volumeMounts"]}
    metrics_port = next(arg.split("=", 1)[1] for arg in args if arg.startswith("--metrics-port="))
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": 8000, "grpc": 8001, "metrics": int(metrics_port)}
    annotations = _one("Deployment", "fiqa-triton")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == metrics_port
    dockerfile = re.search(r"^ARG TRITON_IMAGE=(\S+)$", (REPO / "Dockerfile").read_text(), re.MULTILINE)
    assert container["image"] == dockerfile.group(1), "one Triton release for the compose image and Kubernetes"


def _allowance_s(probe: dict) -> int:
    """The longest a startup probe lets a container start before it is restarted."""
    return probe.get("initialDelaySeconds", 0) + probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)


def test_triton_runs_unprivileged() -> None:
    pod = _one("Deployment", "fiqa-triton")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    context = _container(_one("Deployment", "fiqa-triton"))["securityContext"]
    assert context["allowPrivilegeEscalation"] is False and context["capabilities"]["drop"] == ["ALL"]


def test_gateway_waits_for_triton_as_long_as_triton_may_take_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cold start must not crash-loop: the gateway waits for Triton at least as long as Triton's startup probe
    allows, and the gateway's own startup probe allows that wait."""
    triton = _allowance_s(_container(_one("Deployment", "fiqa-triton"))["startupProbe"])
    settings = check_settings_env(_one("ConfigMap", "fiqa-gateway-config")["data"], monkeypatch)
    assert settings.triton_startup_wait_s >= triton
    gateway = _allowance_s(_container(_one("Deployment", "fiqa-gateway"))["startupProbe"])
    assert gateway > settings.triton_startup_wait_s


def test_triton_service_is_headless_so_gateways_spread_over_pods() -> None:
    assert _one("Service", "fiqa-triton")["spec"]["clusterIP"] == "None"


def test_podmonitors_scrape_both_deployments_on_declared_ports() -> None:
    folder = K8S / "monitoring"
    kustomization = load_yaml(folder / "kustomization.yaml")
    monitors = [doc for name in kustomization["resources"] for doc in yaml.safe_load_all((folder / name).read_text())]
    assert {monitor["kind"] for monitor in monitors} == {"PodMonitor"}
    scraped = set()
    for monitor in monitors:
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["metadata"]["namespace"] == "fiqa"
        selector = monitor["spec"]["selector"]["matchLabels"]
        (deployment,) = [
            doc
            for doc in _resources()
            if doc["kind"] == "Deployment" and selector.items() <= doc["spec"]["template"]["metadata"]["labels"].items()
        ]
        ports = {port["name"] for port in _container(deployment)["ports"]}
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            assert endpoint["port"] in ports and endpoint["path"] == annotations["prometheus.io/path"]
        scraped.add(deployment["metadata"]["name"])
    assert scraped == {"fiqa-gateway", "fiqa-triton"}


@pytest.mark.parametrize("name", ["fiqa-gateway", "fiqa-triton"])
def test_services_select_pods_and_reach_declared_ports(name: str) -> None:
    service, deployment = _one("Service", name), _one("Deployment", name)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    declared = {port["name"]: port["containerPort"] for port in _container(deployment)["ports"]}
    for port in service["spec"]["ports"]:
        target = port["targetPort"]
        assert target in declared or target in declared.values(), (name, target)


def test_gateway_config_is_real_settings_and_points_at_the_triton_service(monkeypatch: pytest.MonkeyPatch) -> None:
    container = _container(_one("Deployment", "fiqa-gateway"))
    (source,) = container["envFrom"]
    config = _one("ConfigMap", source["configMapRef"]["name"])
    settings = check_settings_env(config["data"], monkeypatch)
    assert settings.backend == "triton"
    host, port = settings.triton_url.split(":")
    triton = _one("Service", host)
    grpc = next(p for p in triton["spec"]["ports"] if p["name"] == settings.triton_protocol)
    assert grpc["port"] == int(port)
    annotations = _one("Deployment", "fiqa-gateway")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"


def test_hpa_scales_the_gateway_on_adapter_metrics_with_a_cpu_fallback(series: set[str]) -> None:
    hpa = _one("HorizontalPodAutoscaler", "fiqa-gateway")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "fiqa-gateway")
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    metrics = hpa["spec"]["metrics"]
    pod_metrics = {metric["pods"]["metric"]["name"] for metric in metrics if metric["type"] == "Pods"}
    assert any(metric["type"] == "Resource" and metric["resource"]["name"] == "cpu" for metric in metrics)
    adapter = load_yaml(K8S / "helm/prometheus-adapter-values.yaml")["rules"]["custom"]
    provided = {rule["name"]["as"]: rule for rule in adapter}
    assert pod_metrics and pod_metrics <= set(provided), "each Pods metric is one prometheus-adapter provides"
    for name in pod_metrics:
        source = re.match(r"(\w+)\{", provided[name]["seriesQuery"]).group(1)
        assert source in series, f"{name} reads {source}, which the gateway does not export"
        assert re.search(provided[name]["name"]["matches"], source)
