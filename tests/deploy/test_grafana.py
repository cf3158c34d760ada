"""deploy/grafana: the dashboard parses, every panel has a data source and queries, the queries are valid
PromQL (promtool) over metrics the gateway really exports, and the provisioning points at it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.deploy.deploy_support import REPO, bucket_bounds, load_yaml, require_binary, run_tool

DASHBOARD = REPO / "deploy/grafana/dashboards/fiqa.json"
# Triton's own metrics (documented in Triton's metrics guide; the CPU-only tritonserver used in the
# tests exports the nv_inference_* ones, GPU metrics need a GPU).
TRITON_METRICS = {
    "nv_gpu_utilization",
    "nv_gpu_memory_used_bytes",
    "nv_inference_count",
    "nv_inference_exec_count",
    "nv_inference_queue_duration_us",
    "nv_inference_request_success",
}
# What the dashboard must show (issue 4): stage latency, throughput and latency quantiles, batch sizes,
# queue depth, GPU utilisation, decisions, score distribution, model inference latency.
REQUIRED = {
    "fiqa_stage_duration_seconds_bucket",
    "fiqa_http_requests_total",
    "fiqa_http_request_duration_seconds_bucket",
    "fiqa_batch_size_bucket",
    "fiqa_queue_rows",
    "nv_gpu_utilization",
    "fiqa_decisions_total",
    "fiqa_quality_score_bucket",
    "fiqa_model_inference_duration_seconds_bucket",
}
GRAFANA_VARIABLES = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}


def _dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _panels() -> list[dict]:
    return [panel for panel in _dashboard()["panels"] if panel["type"] != "row"]


def _exprs() -> list[str]:
    return [target["expr"] for panel in _panels() for target in panel["targets"]]


def _datasource_uid() -> str:
    (source,) = load_yaml(REPO / "deploy/grafana/provisioning/datasources/prometheus.yml")["datasources"]
    assert source["type"] == "prometheus"
    return source["uid"]


def test_every_panel_has_the_provisioned_datasource_and_queries() -> None:
    uid = _datasource_uid()
    panels = _panels()
    assert len(panels) >= 10
    ids = [panel["id"] for panel in _dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
        assert panel["targets"], panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip() and target["datasource"]["uid"] == uid, panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
    for variable in _dashboard()["templating"]["list"]:
        assert variable["datasource"]["uid"] == uid


def test_dashboard_reads_only_exported_or_triton_metrics(series: set[str]) -> None:
    used = set()
    for expr in _exprs():
        names = set(re.findall(r"\b(?:fiqa|nv)_[a-z0-9_]+", expr))
        assert names or expr.startswith("up{"), expr
        used |= names
        for metric, bound in re.findall(r"\b(fiqa_[a-z0-9_]+_bucket)\{[^}]*le=\"([^\"]+)\"", expr):
            assert bound in bucket_bounds(metric), f"{metric} has no bucket le={bound!r}"
    fiqa = {name for name in used if name.startswith("fiqa_")}
    assert fiqa <= series, f"not exported by the gateway: {sorted(fiqa - series)}"
    assert used - fiqa <= TRITON_METRICS
    assert used >= REQUIRED, f"missing from the dashboard: {sorted(REQUIRED - used)}"
    for variable in _dashboard()["templating"]["list"]:
        metric = re.search(r"label_values\((\w+),", variable["query"]["query"]).group(1)
        assert metric in series


def test_template_variables_are_defined() -> None:
    defined = {variable["name"] for variable in _dashboard()["templating"]["list"]}
    for expr in _exprs():
        for name in re.findall(r"\$(\w+)", expr):
            assert name in defined or name in GRAFANA_VARIABLES, name


def _substitute(expr: str) -> str:
    """Grafana variables -> values Prometheus accepts (a regex for the multi-value ones)."""
    return re.sub(r"\$(\w+)", lambda m: GRAFANA_VARIABLES.get(m.group(1), ".*"), expr)


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses every query (wrapped as a recording rule)."""
    promtool = require_binary("promtool")
    rules = [{"record": f"dashboard:query_{index}", "expr": _substitute(expr)} for index, expr in enumerate(_exprs())]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = run_tool(promtool, "check", "rules", path)
    assert f"{len(rules)} rules found" in done.stdout


def test_promtool_refuses_bad_promql(tmp_path: Path) -> None:
    """The check above means something: a broken query is refused."""
    promtool = require_binary("promtool")
    path = tmp_path / "bad.yml"
    broken = {"groups": [{"name": "x", "rules": [{"record": "x:y", "expr": "sum(rate(a[5m])"}]}]}
    path.write_text(yaml.safe_dump(broken))
    with pytest.raises(AssertionError):
        run_tool(promtool, "check", "rules", path)
