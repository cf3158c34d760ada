"""The one tritonclient connection of a Triton backend: deadlines, retries, and what a failure means.

- One client (gRPC ``grpc.aio`` by default, ``http.aio`` with ``FIQA_TRITON_PROTOCOL=http``) is created in the
  running event loop and reused by every call; the gRPC channel reconnects within ~1 s once Triton is back.
- Every call has a deadline (``FIQA_TRITON_TIMEOUT_S``). Connection failures and deadlines become
  ``BackendUnavailable`` (HTTP 503 at once, never a hang).
- Retries: only for connection-level failures (gRPC ``UNAVAILABLE``, HTTP connect errors), at most twice with a
  short back-off. Safe because inference here is idempotent: each network is a pure function of its input
  tensors (no sequence batching, no server-side state, no side effects), so a request that did reach Triton
  before the connection broke costs a duplicate computation at worst, never a different answer. Deadlines and
  server-side errors are not retried: they mean Triton accepted the work and is slow or refused it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tritonclient.utils import InferenceServerException

from service.errors import BackendUnavailable, ServiceError
from service.settings import Settings

T = TypeVar("T")

ATTEMPTS = 3  # one call plus two retries, for connection failures only
BACKOFF_S = (0.05, 0.2)
_GRPC_CONNECTION_STATUS = "StatusCode.UNAVAILABLE"
_GRPC_DEADLINE_STATUS = "StatusCode.DEADLINE_EXCEEDED"
_GRPC_CHANNEL_ARGS = [
    ("grpc.max_send_message_length", 2**31 - 1),
    ("grpc.max_receive_message_length", 2**31 - 1),
    # Reconnect quickly after Triton restarts (gRPC's default back-off grows to 120 s).
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
]


class ConnectionFailed(Exception):
    """A call never got an answer because the connection failed: the one failure worth retrying."""


class TritonUnreachable(BackendUnavailable):
    """Every attempt of a call failed to reach Triton: the server is down or restarting."""


class TritonConnection:
    """The client module and the one client of a backend, with every call under a deadline."""

    def __init__(self, settings: Settings):
        self.url = settings.triton_url
        self.protocol = settings.triton_protocol
        self._timeout = settings.triton_timeout_s
        if self.protocol == "grpc":
            import tritonclient.grpc.aio as client_module
        else:
            import tritonclient.http.aio as client_module
        self.module: Any = client_module  # InferInput, InferRequestedOutput and the client of this protocol
        self._client: Any = None
        self._on_failure: list[Callable[[], None]] = []

    @property
    def is_open(self) -> bool:
        return self._client is not None

    def open(self) -> None:
        """Create the client; inside the running event loop, because gRPC channels bind to it."""
        if self._client is not None:
            return
        if self.protocol == "grpc":
            self._client = self.module.InferenceServerClient(self.url, channel_args=_GRPC_CHANNEL_ARGS)
        else:
            self._client = self.module.InferenceServerClient(self.url, conn_timeout=self._timeout)

    def on_connection_failure(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` whenever a call fails to reach Triton (it may have restarted and lost server-side state)."""
        self._on_failure.append(hook)

    async def call(self, method: str, *args: Any, timeout: float | None = None, **kw: Any) -> Any:
        """One client call under a deadline; connection failures raise ``ConnectionFailed``, deadlines a 503."""
        if self._client is None:
            raise BackendUnavailable(f"Triton at {self.url} is not connected")
        timeout = self._timeout if timeout is None else timeout
        if self.protocol == "grpc":
            kw.setdefault("client_timeout", timeout)
        try:
            async with asyncio.timeout(timeout):
                return await getattr(self._client, method)(*args, **kw)
        except Exception as exc:
            if _is_connection_error(exc):
                for hook in self._on_failure:
                    hook()
                raise ConnectionFailed(str(exc)) from exc
            if _is_timeout(exc):
                raise BackendUnavailable(
                    f"Triton at {self.url} did not answer within {timeout:g} s", code="backend_timeout"
                ) from exc
            raise

    async def retrying(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt()``, again after a short back-off while it fails to reach Triton; then ``TritonUnreachable``."""
        last: Exception | None = None
        for index in range(ATTEMPTS):
            try:
                return await attempt()
            except ConnectionFailed as exc:
                last = exc
                if index < ATTEMPTS - 1:
                    await asyncio.sleep(BACKOFF_S[min(index, len(BACKOFF_S) - 1)])
        raise TritonUnreachable(f"Triton at {self.url} is unreachable ({what}): {last}")

    async def query(self, what: str, method: str, *args: Any) -> dict[str, Any]:
        """A metadata or config answer, with retries, as a dict for both protocols (gRPC's asked for JSON)."""
        as_json = {"as_json": True} if self.protocol == "grpc" else {}
        return await self.retrying(what, lambda: self.call(method, *args, **as_json))

    async def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()
            self._client = None


def server_error(name: str, exc: InferenceServerException) -> ServiceError:
    """Triton answered with an error: a missing or unready model is a 503, anything else a 500."""
    message = exc.message() or str(exc)
    lowered = message.lower()
    if "unknown model" in lowered or "not ready" in lowered or "unavailable" in lowered:
        return BackendUnavailable(f"Triton cannot serve {name}: {message}")
    return ServiceError(f"Triton failed on {name}: {message}", code="backend_error")


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, InferenceServerException):
        return exc.status() == _GRPC_CONNECTION_STATUS
    try:
        import aiohttp
    except ImportError:  # pragma: no cover - http extra absent
        return isinstance(exc, ConnectionError)
    # Connect failures (refused, reset before a response) and a server that vanished mid-connection.
    return isinstance(exc, aiohttp.ClientConnectionError | ConnectionError)


def _is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, InferenceServerException):
        return exc.status() == _GRPC_DEADLINE_STATUS
    return isinstance(exc, TimeoutError)
