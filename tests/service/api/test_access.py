"""service.api.access on the application (no models loaded: the checks run before any route body): which routes
need a key, the answers and headers of a refusal, the metrics of refusals, the OpenAPI security schemes, the
/metrics token, and the documentation pages with no CDN."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY
from starlette.testclient import TestClient

from service.api import create_app
from service.api.keys import hash_key
from service.settings import Settings

KEY, METRICS_TOKEN = "alpha-key", "scrape-token"
NO_BODY = {"content-type": "text/plain"}  # a request that passes access control is then refused with 415


def _client(**overrides) -> TestClient:
    return TestClient(create_app(Settings(**overrides)), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def locked() -> TestClient:
    return _client(api_key_hashes=[hash_key(KEY)], metrics_key_hash=hash_key(METRICS_TOKEN))


def _denied(reason: str) -> float:
    return REGISTRY.get_sample_value("fiqa_denied_requests_total", {"reason": reason}) or 0.0


def test_without_keys_the_gateway_stays_open() -> None:
    open_gateway = _client()
    assert open_gateway.post("/score", headers=NO_BODY).status_code == 415
    assert open_gateway.get("/metrics").status_code == 200


@pytest.mark.parametrize(
    ("headers", "code", "challenge"),
    [
        ({}, "missing_api_key", "Bearer"),
        ({"Authorization": f"Basic {KEY}"}, "missing_api_key", "Bearer"),
        ({"Authorization": "Bearer"}, "missing_api_key", "Bearer"),
        ({"Authorization": "Bearer wrong-key"}, "invalid_api_key", 'Bearer error="invalid_token"'),
        ({"X-API-Key": "wrong-key"}, "invalid_api_key", 'Bearer error="invalid_token"'),
    ],
)
@pytest.mark.parametrize("route", [("POST", "/score"), ("GET", "/v1/models")])
def test_protected_routes_answer_401_with_a_typed_error_and_a_challenge(locked, route, headers, code, challenge):
    before = _denied(code)
    response = locked.request(*route, headers={**NO_BODY, **headers})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert response.headers["www-authenticate"] == challenge
    assert _denied(code) == before + 1


@pytest.mark.parametrize("headers", [{"Authorization": f"Bearer {KEY}"}, {"X-API-Key": KEY}])
def test_either_header_form_passes(locked, headers) -> None:
    assert locked.post("/score", headers={**NO_BODY, **headers}).status_code == 415


def test_probes_need_no_key(locked) -> None:
    assert locked.get("/healthz").status_code == 200
    assert locked.get("/readyz").status_code == 503  # not ready (no models loaded here), but not a 401


def test_metrics_need_their_own_token_not_an_api_key(locked) -> None:
    assert locked.get("/metrics").status_code == 401
    assert locked.get("/metrics", headers={"Authorization": f"Bearer {KEY}"}).status_code == 401
    scraped = locked.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status_code == 200 and "fiqa_denied_requests_total" in scraped.text


def test_rate_limit_answers_429_with_retry_after_per_key() -> None:
    limited = _client(api_key_hashes=[hash_key(KEY), hash_key("beta-key")], rate_limit_per_s=0.01, rate_limit_burst=2)
    before = _denied("rate_limited")
    alpha = {**NO_BODY, "X-API-Key": KEY}
    assert [limited.post("/score", headers=alpha).status_code for _ in range(2)] == [415, 415]
    refused = limited.get("/v1/models", headers=alpha)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert 90 <= int(refused.headers["retry-after"]) <= 100  # one token at 0.01/s, whole seconds
    assert _denied("rate_limited") == before + 1
    assert limited.post("/score", headers={**NO_BODY, "X-API-Key": "beta-key"}).status_code == 415
    assert limited.get("/healthz").status_code == 200  # probes are never limited


def test_without_keys_the_limit_is_per_client_address() -> None:
    limited = _client(rate_limit_per_s=0.01, rate_limit_burst=1)
    assert limited.post("/score", headers=NO_BODY).status_code == 415
    assert limited.post("/score", headers=NO_BODY).status_code == 429


def test_openapi_declares_both_key_forms_on_the_protected_routes_only(locked) -> None:
    spec = locked.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert (schemes["bearerKey"]["type"], schemes["bearerKey"]["scheme"]) == ("http", "bearer")
    assert (schemes["apiKeyHeader"]["in"], schemes["apiKeyHeader"]["name"]) == ("header", "X-API-Key")
    alternatives = [{"bearerKey": []}, {"apiKeyHeader": []}]
    for path, method in (("/score", "post"), ("/v1/models", "get")):
        operation = spec["paths"][path][method]
        assert operation["security"] == alternatives
        assert {"401", "429"} <= set(operation["responses"])
    for path in ("/healthz", "/readyz"):
        assert "security" not in spec["paths"][path]["get"]


def test_docs_are_served_from_local_assets(locked) -> None:
    for page, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        html = locked.get(page).text
        assert f'src="/docs/assets/{asset}"' in html
        assert "https://" not in html, "the page loads nothing from another host"
        script = locked.get(f"/docs/assets/{asset}")
        assert script.status_code == 200 and len(script.content) > 100_000
    assert locked.get("/docs/assets/swagger-ui.css").status_code == 200


def test_docs_and_metrics_can_be_turned_off() -> None:
    closed = _client(docs=False, metrics_endpoint=False)
    for path in ("/docs", "/redoc", "/openapi.json", "/docs/assets/swagger-ui.css", "/metrics"):
        assert closed.get(path).status_code == 404, path
    assert closed.get("/healthz").status_code == 200


def test_an_unreadable_keys_file_stops_the_app_before_it_serves(tmp_path) -> None:
    with pytest.raises(ValueError, match="FIQA_API_KEYS_FILE"):
        create_app(Settings(api_keys_file=tmp_path / "missing"))


def test_refused_keys_spend_the_address_bucket_so_guessing_is_throttled() -> None:
    limited = _client(api_key_hashes=[hash_key(KEY)], rate_limit_per_s=0.01, rate_limit_burst=2)
    guesses = [limited.post("/score", headers={**NO_BODY, "X-API-Key": f"guess-{n}"}) for n in range(3)]
    assert [guess.status_code for guess in guesses] == [401, 401, 429]
    assert "retry-after" in guesses[2].headers
    assert limited.post("/score", headers={**NO_BODY, "X-API-Key": KEY}).status_code == 415  # the key's own bucket
