"""Triton backend without a server: card checks, error mapping, fast failure when Triton is unreachable.

The same backend against a real tritonserver is tested in tests/integration/test_triton_gateway.py.
"""

from __future__ import annotations

import asyncio
import socket
import time

import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from service.backends import create_backend
from service.backends.triton import TritonBackend, _server_error, check_metadata
from service.errors import BackendUnavailable, ModelMismatch
from service.registry import Registry
from service.settings import Settings


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(Settings().models_dir)


def _metadata(**changes) -> dict:
    metadata = {
        "name": "fr_feature",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": ["-1", "3", "112", "112"]}],
        "outputs": [{"name": "output", "datatype": "FP32", "shape": [-1, 512]}],
    }
    for key, value in changes.items():
        kind, field = key.split("__")
        metadata[kind][0][field] = value
    return metadata


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once the socket is closed


def test_metadata_matching_the_card_passes(registry: Registry) -> None:
    check_metadata(registry["fr_feature"], _metadata())  # gRPC JSON gives dims as strings, HTTP as ints


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"outputs__shape": [-1, 128]}, "shape"),
        ({"inputs__shape": [-1, 3, -1, -1]}, "shape"),
        ({"inputs__datatype": "FP16"}, "FP16"),
        ({"outputs__name": "embedding"}, "outputs"),
    ],
)
def test_metadata_differing_from_the_card_is_a_mismatch(registry: Registry, change: dict, message: str) -> None:
    with pytest.raises(ModelMismatch, match=message):
        check_metadata(registry["fr_feature"], _metadata(**change))


def test_create_backend_picks_triton(registry: Registry) -> None:
    backend = create_backend(Settings(backend="triton"), registry)
    assert isinstance(backend, TritonBackend) and backend.name == "triton"


def test_server_errors_map_to_503_or_500() -> None:
    assert isinstance(
        _server_error("m", InferenceServerException("Request for unknown model: 'm'")), BackendUnavailable
    )
    other = _server_error("m", InferenceServerException("unexpected shape for input 'input'", status="400"))
    assert other.status == 500 and other.code == "backend_error"


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_unreachable_triton_fails_fast_with_503(registry: Registry, protocol: str) -> None:
    settings = Settings(
        backend="triton",
        triton_protocol=protocol,
        triton_url=f"127.0.0.1:{_closed_port()}",
        triton_startup_wait_s=0.5,
        triton_timeout_s=2.0,
    )
    backend = TritonBackend(registry, settings)

    async def run() -> tuple[float, bool]:
        try:
            started = time.perf_counter()
            with pytest.raises(BackendUnavailable, match="has not served"):
                await backend.load(["fr_feature"])
            elapsed = time.perf_counter() - started
            with pytest.raises(BackendUnavailable, match="not loaded"):
                await backend.infer("fr_feature", {"input": np.zeros((1, 3, 112, 112), np.float32)})
            return elapsed, await backend.ready()
        finally:
            await backend.close()

    elapsed, ready = asyncio.run(run())
    assert elapsed < 3.0 and ready is False
    assert backend.describe("fr_feature")["loaded"] is False
