"""A real Prometheus (Debian package) scrapes a real gateway; its HTTP API must see exactly the work sent."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from loadtests.server import Gateway, free_port
from loadtests.workload import payload

pytestmark = pytest.mark.integration


def _query(base: str, expr: str) -> list[dict]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as reply:
        body = json.loads(reply.read())
    assert body["status"] == "success", body
    return body["data"]["result"]


def _scalar(base: str, expr: str) -> float:
    result = _query(base, expr)
    return float(result[0]["value"][1]) if result else math.nan


def _wait(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def prometheus_binary(unavailable) -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        unavailable("Prometheus is not installed (Debian package `prometheus`): run `make tools`")
    return binary


def test_prometheus_scrapes_the_gateway_and_sees_the_work(prometheus_binary: str, tmp_path: Path) -> None:
    sent = [payload("face_vga")] * 3 + [payload("group"), payload("no_face"), payload("face_hd", maps=True)]
    with Gateway(log=tmp_path / "gateway.log") as gateway:
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: fiqa\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{gateway.port}']}}]\n"
        )
        with open(tmp_path / "prometheus.log", "wb") as log:
            server = subprocess.Popen(
                [
                    prometheus_binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait(lambda: _ready(base), 60, "Prometheus to be ready")
            _wait(lambda: _scalar(base, 'up{job="fiqa"}') == 1, 30, "the first scrape of the gateway")
            answers, latencies = [], []
            total = 'sum(fiqa_http_requests_total{route="/score",method="POST"})'
            for number, item in enumerate(sent):
                request = urllib.request.Request(
                    gateway.url + item.path, data=item.body, headers={"Content-Type": item.content_type}
                )
                started = time.perf_counter()
                with urllib.request.urlopen(request, timeout=120) as reply:
                    answers.append(json.loads(reply.read()))
                latencies.append(time.perf_counter() - started)
                if number == 0:
                    # the request counter's series starts with the first request: let one scrape see it at 1, so
                    # rate() has an increase to measure even when the rest take less than a scrape interval
                    _wait(lambda: _scalar(base, total) == 1, 30, "Prometheus to scrape the first request")
            _wait(lambda: _scalar(base, total) == len(sent), 30, "Prometheus to scrape the requests")
            time.sleep(2.5)  # a few more scrapes, so rate() has points after the last request

            assert _scalar(base, 'sum(fiqa_http_requests_total{route="/score",status="200"})') == len(sent)
            faces = [face for answer in answers for image in answer["images"] for face in image["faces"]]
            expected = Counter((face["decision"], reason) for face in faces for reason in face["reasons"] or ["none"])
            seen = {
                (item["metric"]["decision"], item["metric"]["reason"]): float(item["value"][1])
                for item in _query(base, "sum by (decision, reason) (fiqa_decisions_total)")
            }
            assert seen == {key: float(count) for key, count in expected.items()}
            assessed = [face for face in faces if face["quality"]["score"] != -1]
            assert _scalar(base, "sum(fiqa_quality_score_count)") == len(assessed)
            assert _scalar(base, "sum(fiqa_faces_per_image_sum)") == sum(
                image["faces_detected"] for answer in answers for image in answer["images"]
            )

            rate = _scalar(base, 'sum(rate(fiqa_http_requests_total{route="/score"}[1m]))')
            assert 0 < rate < len(sent)  # six requests within a minute: a positive rate below 6/s
            p50 = _scalar(
                base,
                "histogram_quantile(0.5, sum by (le) "
                '(rate(fiqa_http_request_duration_seconds_bucket{route="/score",status="200"}[1m])))',
            )
            assert 0 < p50 <= _bucket_above(max(latencies))
            model_p95 = _scalar(
                base, "histogram_quantile(0.95, sum by (le) (rate(fiqa_model_inference_duration_seconds_bucket[1m])))"
            )
            assert 0 < model_p95 <= _bucket_above(max(latencies))
        finally:
            server.terminate()
            server.wait(timeout=30)


def _ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as reply:
            return reply.status == 200
    except (TimeoutError, OSError):
        return False


def _bucket_above(seconds: float) -> float:
    """The smallest latency bucket bound at or above ``seconds`` (histogram_quantile answers bucket bounds)."""
    from service.metrics import _LATENCY_BUCKETS

    return next((bound for bound in _LATENCY_BUCKETS if bound >= seconds), math.inf)
