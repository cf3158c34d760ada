"""API keys and rate limits end to end: the real gateway (``fiqa-service serve``, uvicorn) in a child process,
configured by environment variables only, asked over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from loadtests.server import Gateway
from service.api.keys import hash_key

pytestmark = pytest.mark.slow

KEY = "e2e-client-key"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    folder = tmp_path_factory.mktemp("access")
    keys_file = folder / "keys"
    keys_file.write_text(f"# mounted secret\ne2e:{hash_key(KEY)}\n")
    env = {
        "FIQA_API_KEYS_FILE": str(keys_file),
        "FIQA_METRICS_KEY_HASH": hash_key("scrape-token"),
        "FIQA_RATE_LIMIT_PER_S": "0.01",
        "FIQA_RATE_LIMIT_BURST": "3",
        "FIQA_WARMUP": "false",
        "FIQA_LOG_FORMAT": "json",
    }
    with Gateway(env=env, log=folder / "gateway.log") as running:
        yield running


def test_keys_and_rate_limits_over_http(gateway: Gateway, samples: Path) -> None:
    jpeg = {"content": (samples / "obama.jpg").read_bytes(), "headers": {"content-type": "image/jpeg"}}
    with httpx2.Client(base_url=gateway.url, timeout=60) as http:
        assert http.get("/healthz").status_code == 200 and http.get("/readyz").status_code == 200

        missing = http.post("/score", **jpeg)
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = http.get("/v1/models", headers={"Authorization": "Bearer not-the-key"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"

        # the key's bucket holds 3 requests and refills one per 100 s
        scored = http.post("/score", content=jpeg["content"], headers={**jpeg["headers"], "X-API-Key": KEY})
        assert scored.status_code == 200 and scored.json()["images"][0]["faces_detected"] == 1
        bearer = {"Authorization": f"Bearer {KEY}"}
        listed = http.get("/v1/models", headers=bearer).json()["models"]
        assert all("runtime" not in entry.get("runtime", {}) for entry in listed)
        full = http.get("/v1/models", params={"detail": "full"}, headers=bearer).json()["models"]
        assert any(entry.get("runtime", {}).get("runtime", "").startswith("onnxruntime") for entry in full)
        refused = http.get("/v1/models", headers=bearer)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 100

        assert http.get("/metrics").status_code == 401
        scraped = http.get("/metrics", headers={"Authorization": "Bearer scrape-token"}).text
    assert 'fiqa_denied_requests_total{reason="rate_limited"} 1.0' in scraped
    assert 'fiqa_denied_requests_total{reason="invalid_api_key"} 1.0' in scraped
    assert 'fiqa_denied_requests_total{reason="missing_api_key"} 2.0' in scraped  # /score, then /metrics
    access_lines = [json.loads(line) for line in gateway.log_tail(200_000).splitlines() if '"route"' in line]
    scored_line = next(line for line in access_lines if line["route"] == "/score" and line["status"] == 200)
    assert scored_line["api_key"] == "e2e" and KEY not in gateway.log_tail(200_000)
