"""The shared-memory pool against a recording stand-in for the connection: real POSIX regions, no Triton."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from service.backends.triton.connection import ConnectionFailed
from service.backends.triton.shared_memory import MIN_SLOT_BYTES, ShmPool


class RecordingConnection:
    """Records the registration calls; ``refuse`` holds answers (exceptions) to give to the next calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.refuse: list[Exception] = []
        self.hooks: list[Callable[[], None]] = []

    def on_connection_failure(self, hook: Callable[[], None]) -> None:
        self.hooks.append(hook)

    async def call(self, method: str, *args: Any, **kw: Any) -> None:
        self.calls.append((method, args))
        if self.refuse:
            raise self.refuse.pop(0)

    def lose(self) -> None:
        """What the real connection does when a call cannot reach Triton."""
        for hook in self.hooks:
            hook()


@pytest.fixture
def pool_and_connection():
    connection = RecordingConnection()
    pool = ShmPool(connection)  # type: ignore[arg-type]
    yield pool, connection
    asyncio.run(pool.close())


def _use(pool: ShmPool, size: int, model: str = "fr_feature") -> str:
    async def run() -> str:
        async with pool.slot(model, size) as slot:
            return slot.region

    return asyncio.run(run())


def test_a_slot_is_registered_once_and_reused(pool_and_connection) -> None:
    pool, connection = pool_and_connection
    first, second = _use(pool, 1000), _use(pool, 2000)
    assert first == second and first.endswith("_fr_feature_0")
    assert connection.calls == [("register_system_shared_memory", (first, f"/{first}", MIN_SLOT_BYTES))]


def test_a_larger_call_grows_the_region_and_registers_it_again(pool_and_connection) -> None:
    pool, connection = pool_and_connection
    region = _use(pool, 1000)
    _use(pool, 3 * MIN_SLOT_BYTES)
    assert connection.calls[1:] == [
        ("unregister_system_shared_memory", (region,)),
        ("register_system_shared_memory", (region, f"/{region}", 3 * MIN_SLOT_BYTES)),
    ]


def test_after_a_lost_connection_every_region_is_registered_again(pool_and_connection) -> None:
    pool, connection = pool_and_connection
    region = _use(pool, 1000)
    connection.lose()
    _use(pool, 1000)
    assert [method for method, _ in connection.calls] == ["register_system_shared_memory"] * 2
    assert connection.calls[1][1][0] == region


def test_a_region_still_registered_is_registered_afresh(pool_and_connection) -> None:
    pool, connection = pool_and_connection
    connection.refuse = [InferenceServerException("shared memory region 'x' already in manager")]
    region = _use(pool, 1000)
    assert [method for method, _ in connection.calls] == [
        "register_system_shared_memory",
        "unregister_system_shared_memory",
        "register_system_shared_memory",
    ]
    assert _use(pool, 1000) == region and len(connection.calls) == 3


def test_a_reply_naming_shared_memory_means_retry_and_register_again(pool_and_connection) -> None:
    pool, connection = pool_and_connection

    async def call_failing_with(error: Exception) -> None:
        async with pool.slot("fr_feature", 1000):
            raise error

    with pytest.raises(ConnectionFailed, match="Unable to find system shared memory region"):
        asyncio.run(call_failing_with(InferenceServerException("Unable to find system shared memory region: 'r'")))
    with pytest.raises(InferenceServerException, match="unexpected shape"):
        asyncio.run(call_failing_with(InferenceServerException("unexpected shape for input 'input'")))
    # Registered at first use, again after the forgotten region; the shape error changes nothing.
    assert [method for method, _ in connection.calls] == ["register_system_shared_memory"] * 2


def test_concurrent_calls_get_their_own_regions_and_data(pool_and_connection) -> None:
    pool, _ = pool_and_connection

    async def hold(value: float) -> tuple[str, np.ndarray]:
        async with pool.slot("fr_feature", 1000) as slot:
            slot.write([np.full(4, value, np.float32)])
            await asyncio.sleep(0.01)  # both calls hold a slot now
            return slot.region, slot.read("float32", (4,), 0)

    async def run() -> list[tuple[str, np.ndarray]]:
        return await asyncio.gather(hold(1.0), hold(2.0))

    (region_a, data_a), (region_b, data_b) = asyncio.run(run())
    assert region_a != region_b
    assert data_a.tolist() == [1.0] * 4 and data_b.tolist() == [2.0] * 4


def test_close_unregisters_and_destroys_every_region(pool_and_connection) -> None:
    pool, connection = pool_and_connection
    region = _use(pool, 1000)
    assert Path(f"/dev/shm/{region}").exists()
    asyncio.run(pool.close())
    assert connection.calls[-1] == ("unregister_system_shared_memory", (region,))
    assert not Path(f"/dev/shm/{region}").exists()
