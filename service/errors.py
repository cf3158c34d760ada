"""Typed errors raised by the stages; ``service.api`` maps them to HTTP in one place."""

from __future__ import annotations


class ServiceError(Exception):
    """Base: carries an HTTP status and a stable machine-readable code."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.headers = headers or {}


class BadRequest(ServiceError):
    status = 400
    code = "bad_request"


class BadImage(ServiceError):
    """The bytes are not a decodable image (or a degenerate one)."""

    status = 400
    code = "bad_image"


class UnsupportedMediaType(ServiceError):
    status = 415
    code = "unsupported_media_type"


class TooLarge(ServiceError):
    """Body, image bytes or pixel count over the configured limits."""

    status = 413
    code = "too_large"


class InvalidOptions(ServiceError):
    status = 422
    code = "invalid_options"

    def __init__(self, message: str, *, details: list[dict] | None = None):
        super().__init__(message)
        self.details = details or []


class Overloaded(ServiceError):
    """A bounded queue is full: the client should retry later."""

    status = 503
    code = "overloaded"


class BackendUnavailable(ServiceError):
    status = 503
    code = "backend_unavailable"


class RequestTimeout(ServiceError):
    """Scoring took longer than the configured budget; the work is abandoned, the client may retry."""

    status = 504
    code = "timeout"


class BodyTimeout(ServiceError):
    """The client did not send its whole body in time; the connection is closed after the answer."""

    status = 408
    code = "body_timeout"


class ClientGone(ServiceError):
    """The client closed the connection before its request was read: nobody reads the answer, the access log
    records it (499, the status proxies use for it) and nothing else does."""

    status = 499
    code = "client_closed_request"


class ModelMismatch(ServiceError):
    """A served model does not look like its card says: refuse rather than return wrong scores."""

    status = 500
    code = "model_mismatch"


class Unauthorized(ServiceError):
    """No API key, or one the gateway does not hold, where keys are configured. ``WWW-Authenticate`` tells the
    client to send a bearer token (RFC 6750: ``error="invalid_token"`` when the one it sent is not accepted)."""

    status = 401
    code = "missing_api_key"

    def __init__(self, message: str, *, code: str):
        challenge = 'Bearer error="invalid_token"' if code == "invalid_api_key" else "Bearer"
        super().__init__(message, code=code, headers={"WWW-Authenticate": challenge})


class RateLimited(ServiceError):
    """The client (API key, or address without one) spent its request budget; ``Retry-After`` says when one more
    request fits."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int):
        super().__init__(message, headers={"Retry-After": str(retry_after_s)})
