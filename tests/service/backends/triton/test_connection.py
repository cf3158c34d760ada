"""The Triton connection without a server: deadlines, retries of connection failures only, error meanings."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest
from tritonclient.utils import InferenceServerException

from service.backends.triton.connection import (
    ATTEMPTS,
    ConnectionFailed,
    TritonConnection,
    TritonUnreachable,
    server_error,
)
from service.errors import BackendUnavailable
from service.settings import Settings


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def _connection(port: int, protocol: str = "grpc", timeout_s: float = 2.0) -> TritonConnection:
    return TritonConnection(
        Settings(triton_url=f"127.0.0.1:{port}", triton_protocol=protocol, triton_timeout_s=timeout_s)
    )


async def _probe_once(connection: TritonConnection) -> None:
    """Open, ask whether the server is live, close."""
    connection.open()
    try:
        await connection.call("is_server_live")
    finally:
        await connection.close()


def test_server_errors_map_to_503_or_500() -> None:
    missing = server_error("m", InferenceServerException("Request for unknown model: 'm'"))
    assert isinstance(missing, BackendUnavailable) and missing.status == 503
    other = server_error("m", InferenceServerException("unexpected shape for input 'input'", status="400"))
    assert other.status == 500 and other.code == "backend_error"


def test_a_call_before_open_is_unavailable(closed_port: int) -> None:
    with pytest.raises(BackendUnavailable, match="not connected"):
        asyncio.run(_connection(closed_port).call("is_server_live"))


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_a_refused_connection_fails_the_call_and_tells_the_listeners(closed_port: int, protocol: str) -> None:
    connection = _connection(closed_port, protocol)
    failures: list[str] = []
    connection.on_connection_failure(lambda: failures.append("lost"))

    with pytest.raises(ConnectionFailed):
        asyncio.run(_probe_once(connection))
    assert failures == ["lost"] and connection.is_open is False


def test_a_server_that_never_answers_hits_the_deadline(silent_port: int) -> None:
    connection = _connection(silent_port, "http", timeout_s=0.3)

    started = time.perf_counter()
    with pytest.raises(BackendUnavailable, match=r"did not answer within 0\.3 s") as raised:
        asyncio.run(_probe_once(connection))
    assert raised.value.code == "backend_timeout" and time.perf_counter() - started < 2.0


def test_connection_failures_are_retried_then_unreachable(closed_port: int) -> None:
    attempts: list[int] = []

    async def attempt() -> None:
        attempts.append(len(attempts))
        raise ConnectionFailed("connection refused")

    with pytest.raises(TritonUnreachable, match=r"unreachable \(fr_feature\): connection refused") as raised:
        asyncio.run(_connection(closed_port).retrying("fr_feature", attempt))
    assert len(attempts) == ATTEMPTS and raised.value.status == 503


def test_a_retry_that_reaches_triton_returns_its_answer(closed_port: int) -> None:
    attempts: list[int] = []

    async def attempt() -> str:
        attempts.append(len(attempts))
        if len(attempts) == 1:
            raise ConnectionFailed("connection reset")
        return "answer"

    assert asyncio.run(_connection(closed_port).retrying("fr_feature", attempt)) == "answer"
    assert len(attempts) == 2


@pytest.mark.parametrize(
    "error",
    [
        InferenceServerException("inference failed", status="StatusCode.INTERNAL"),
        BackendUnavailable("Triton did not answer within 5 s", code="backend_timeout"),
    ],
    ids=["server-error", "deadline"],
)
def test_answers_and_deadlines_are_not_retried(closed_port: int, error: Exception) -> None:
    attempts: list[int] = []

    async def attempt() -> None:
        attempts.append(len(attempts))
        raise error

    with pytest.raises(type(error)):
        asyncio.run(_connection(closed_port).retrying("fr_feature", attempt))
    assert len(attempts) == 1
