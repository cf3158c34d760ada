"""deploy/prometheus: promtool accepts the config and the rules and passes the rule unit tests; every
gateway metric the rules read is one the gateway really exports, with bucket bounds it really has."""

from __future__ import annotations

import re

import pytest

from service.settings import Settings
from tests.deploy.deploy_support import REPO, bucket_bounds, load_yaml, require_binary, run_tool

RULES = REPO / "deploy/prometheus/alerts.yml"
REQUIRED_ALERTS = {
    "FiqaScoreLatencyP99High",
    "FiqaErrorRateHigh",
    "FiqaQueueSaturation",
    "TritonDown",
    "FiqaScoreDrift",
    "FiqaLowScoreShareHigh",
    "FiqaGatewayDown",
}


def _rules() -> list[dict]:
    return [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"]]


def _alert(name: str) -> dict:
    return next(rule for rule in _rules() if rule.get("alert") == name)


def test_promtool_checks_config_and_rules() -> None:
    promtool = require_binary("promtool")
    done = run_tool(promtool, "check", "config", REPO / "deploy/prometheus/prometheus.yml")
    assert "1 rule files found" in done.stdout
    done = run_tool(promtool, "check", "rules", RULES)
    assert f"{len(_rules())} rules found" in done.stdout


@pytest.mark.parametrize("unit_file", ["prometheus_rules_test.yml", "prometheus_drift_test.yml"])
def test_promtool_rule_unit_tests(unit_file: str) -> None:
    """Each alert fires on data that should page and stays silent on data that should not."""
    promtool = require_binary("promtool")
    done = run_tool(promtool, "test", "rules", REPO / "tests/deploy" / unit_file)
    assert "SUCCESS" in done.stdout


def test_unit_tests_cover_every_alert() -> None:
    tested = set()
    for unit_file in ("prometheus_rules_test.yml", "prometheus_drift_test.yml"):
        for case in load_yaml(REPO / "tests/deploy" / unit_file)["tests"]:
            tested.update(check["alertname"] for check in case.get("alert_rule_test", []) if check["exp_alerts"])
    alerts = {rule["alert"] for rule in _rules() if "alert" in rule}
    assert alerts >= REQUIRED_ALERTS
    assert alerts - {"FiqaLoadShedding"} <= tested, "every paging alert is shown to fire in a unit test"


def test_rules_read_only_exported_metrics(series: set[str]) -> None:
    for rule in _rules():
        used = set(re.findall(r"\bfiqa_[a-z0-9_]+", rule["expr"]))
        assert used or "up{" in rule["expr"], rule.get("alert")
        assert used <= series, f"{rule.get('alert')}: unknown metrics {sorted(used - series)}"
        for metric, bound in re.findall(r"\b(fiqa_[a-z0-9_]+_bucket)\{[^}]*le=\"([^\"]+)\"", rule["expr"]):
            assert bound in bucket_bounds(metric), f"{metric} has no bucket le={bound!r}"
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]


def test_queue_alert_matches_the_gateway_queue_limit() -> None:
    expr = _alert("FiqaQueueSaturation")["expr"]
    limit = int(re.search(r"\*\s*(\d+)", expr).group(1))
    assert limit == Settings().max_queue_rows


def test_latency_and_error_alerts_watch_the_score_route(routes: set[str]) -> None:
    for name in ("FiqaScoreLatencyP99High", "FiqaErrorRateHigh"):
        watched = set(re.findall(r'route="([^"]+)"', _alert(name)["expr"]))
        assert watched == {"/score"} and watched <= routes


def test_triton_alert_watches_the_triton_job() -> None:
    jobs = {job["job_name"] for job in load_yaml(REPO / "deploy/prometheus/prometheus.yml")["scrape_configs"]}
    assert 'up{job="triton"} == 0' in _alert("TritonDown")["expr"] and "triton" in jobs
    assert 'up{job="gateway"}' in _alert("FiqaGatewayDown")["expr"] and "gateway" in jobs
