"""Who may call a route: the API key and the rate limit of the protected routes (``/score``, ``/v1/models``), and
the bearer token of ``/metrics``. Route dependencies, so both header forms appear as OpenAPI security schemes on
the routes that check them; the probes (``/healthz``, ``/readyz``) have none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from service.api.keys import KeyRing
from service.api.ratelimit import RateLimiter
from service.errors import RateLimited, Unauthorized
from service.settings import Settings

_WHEN = "Needed only where the gateway is configured with API keys (README, Security)."
_BEARER = HTTPBearer(
    auto_error=False, scheme_name="bearerKey", description=f"`Authorization: Bearer <API key>`. {_WHEN}"
)
_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKeyHeader", description=_WHEN)
BearerToken = Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)]
HeaderKey = Annotated[str | None, Security(_HEADER)]


@dataclass(frozen=True)
class Access:
    """The access policy of one app, built once from the settings when the app is created."""

    keys: KeyRing
    metrics_keys: KeyRing
    limiter: RateLimiter | None

    @classmethod
    def from_settings(cls, settings: Settings) -> Access:
        metrics_hash = settings.metrics_key_hash
        limiter = None
        if settings.rate_limit_per_s > 0:
            limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst, settings.rate_limit_max_clients)
        return cls(
            keys=KeyRing.from_settings(settings),
            metrics_keys=KeyRing([("metrics", metrics_hash)] if metrics_hash else []),
            limiter=limiter,
        )


def _authenticate(keys: KeyRing, key: str | None) -> str:
    """The name of the key ``key`` is, or ``Unauthorized``."""
    if not key:
        raise Unauthorized(
            "an API key is needed: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'", code="missing_api_key"
        )
    name = keys.match(key)
    if name is None:
        raise Unauthorized("the API key is not valid", code="invalid_api_key")
    return name


def _access(request: Request) -> Access:
    return request.app.state.access


def _address(request: Request) -> str:
    """The client's address (the proxy's, unless uvicorn trusts it for ``X-Forwarded-For``: README, Security)."""
    return f"address:{request.client.host if request.client else 'unknown'}"


def _spend(limiter: RateLimiter | None, identity: str) -> None:
    """Take one token from ``identity``'s bucket, or ``RateLimited`` when it is empty."""
    if limiter is None:
        return
    wait_s = limiter.acquire(identity)
    if wait_s:
        raise RateLimited(
            f"rate limit of {limiter.rate_per_s:g} requests/s (burst {limiter.burst}) reached; retry in {wait_s} s",
            retry_after_s=wait_s,
        )


async def client(request: Request, bearer: BearerToken, header: HeaderKey) -> None:
    """Dependency of the protected routes: a valid key where keys are configured (its name goes to the access
    line), then one token from the bucket of that key, or of the client's address where there are no keys. A
    refused key spends a token of the address's bucket, so guessing keys is throttled like any other traffic."""
    access = _access(request)
    if not access.keys:
        _spend(access.limiter, _address(request))
        return
    try:
        name = _authenticate(access.keys, bearer.credentials if bearer else header)
    except Unauthorized:
        _spend(access.limiter, _address(request))
        raise
    request.state.api_key = name
    _spend(access.limiter, f"key:{name}")


async def metrics_scraper(request: Request, bearer: BearerToken) -> None:
    """Dependency of ``/metrics``: Prometheus' bearer token where ``FIQA_METRICS_KEY_HASH`` is set."""
    access = _access(request)
    if access.metrics_keys:
        _authenticate(access.metrics_keys, bearer.credentials if bearer else None)
