"""``TritonBackend`` without a server: chosen by the settings, fast failure when Triton is unreachable.

The same backend against a real tritonserver is tested in tests/integration/test_triton_gateway.py.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from service.backends import create_backend
from service.backends.triton import TritonBackend
from service.errors import BackendUnavailable
from service.registry import Registry
from service.settings import Settings


def test_create_backend_picks_triton(registry: Registry) -> None:
    backend = create_backend(Settings(backend="triton"), registry)
    assert isinstance(backend, TritonBackend) and backend.name == "triton"


@pytest.mark.parametrize("protocol", ["grpc", "http"])
@pytest.mark.parametrize("shm", [False, True], ids=["socket", "shared-memory"])
def test_unreachable_triton_fails_fast_with_503(registry: Registry, closed_port: int, protocol: str, shm: bool) -> None:
    settings = Settings(
        backend="triton",
        triton_protocol=protocol,
        triton_url=f"127.0.0.1:{closed_port}",
        triton_startup_wait_s=0.5,
        triton_timeout_s=2.0,
        triton_shm=shm,
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
    described = backend.describe("fr_feature")
    assert described["loaded"] is False and described["shared_memory"] is shm
