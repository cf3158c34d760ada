"""System (POSIX) shared-memory regions for tensors, for a gateway on the same host (or pod) as Triton.

``FIQA_TRITON_SHM=true`` passes inputs, and outputs of fixed size, through these regions instead of the socket.
Each region is registered with Triton once and reused; a Triton restart forgets registrations, so any failed
connection (or a reply that names shared memory) marks every region for registration again before its next use.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import numpy as np
from tritonclient.utils import InferenceServerException
from tritonclient.utils import shared_memory as shm

from service.backends.triton.connection import ConnectionFailed, TritonConnection

SLOTS_PER_MODEL = 16
MIN_SLOT_BYTES = 1 << 20


class ShmSlot:
    """One region (inputs, then fixed-size outputs) used by one call at a time."""

    def __init__(self, model: str, index: int):
        self.region = f"fiqa_{os.getpid()}_{model}_{index}"
        self.key = f"/{self.region}"
        self.handle: object | None = None
        self.size = 0
        self.registered = False

    def write(self, arrays: list[np.ndarray]) -> None:
        """Place ``arrays`` one after another from the start of the region."""
        shm.set_shared_memory_region(self.handle, arrays)

    def read(self, dtype: str, shape: tuple[int, ...], offset: int) -> np.ndarray:
        """A copy of the array at ``offset`` (the region is reused by the next call)."""
        return shm.get_contents_as_numpy(self.handle, np.dtype(dtype), list(shape), offset=offset).copy()


class ShmPool:
    """Up to ``SLOTS_PER_MODEL`` slots per model, created on demand and registered with Triton before use."""

    def __init__(self, connection: TritonConnection):
        self._connection = connection
        self._free: dict[str, list[ShmSlot]] = {}
        self._all: dict[str, list[ShmSlot]] = {}
        self._available: dict[str, asyncio.Semaphore] = {}
        connection.on_connection_failure(self.invalidate)

    def invalidate(self) -> None:
        """Triton may have restarted: register every region again before its next use."""
        for slots in self._all.values():
            for slot in slots:
                slot.registered = False

    @contextlib.asynccontextmanager
    async def slot(self, model: str, size: int) -> AsyncIterator[ShmSlot]:
        """A registered slot of at least ``size`` bytes, for the duration of one call.

        A reply to the call made with it that names shared memory means Triton restarted: the regions are marked for
        registration and ``ConnectionFailed`` lets the caller's retry register them again.
        """
        semaphore = self._available.setdefault(model, asyncio.Semaphore(SLOTS_PER_MODEL))
        async with semaphore:
            free = self._free.setdefault(model, [])
            slots = self._all.setdefault(model, [])
            if free:
                slot = free.pop()
            else:
                slot = ShmSlot(model, len(slots))
                slots.append(slot)
            try:
                await self._prepare(slot, size)
                try:
                    yield slot
                except InferenceServerException as exc:
                    if "shared memory" not in exc.message().lower():
                        raise
                    self.invalidate()
                    raise ConnectionFailed(exc.message()) from exc
            finally:
                free.append(slot)

    async def _prepare(self, slot: ShmSlot, size: int) -> None:
        """Grow the region when ``size`` exceeds it, and register it unless Triton knows it already."""
        if slot.size < size:
            if slot.registered:
                await self._connection.call("unregister_system_shared_memory", slot.region)
                slot.registered = False
            if slot.handle is not None:
                shm.destroy_shared_memory_region(slot.handle)
            slot.size = max(size, MIN_SLOT_BYTES)
            slot.handle = shm.create_shared_memory_region(slot.region, slot.key, slot.size)
        if slot.registered:
            return
        try:
            await self._connection.call("register_system_shared_memory", slot.region, slot.key, slot.size)
        except InferenceServerException as exc:
            if "already" not in exc.message().lower():
                raise
            # Still registered from before a connection failure that was not a restart: register afresh.
            await self._connection.call("unregister_system_shared_memory", slot.region)
            await self._connection.call("register_system_shared_memory", slot.region, slot.key, slot.size)
        slot.registered = True

    async def close(self) -> None:
        """Unregister (while Triton is reachable) and destroy every region."""
        for slots in self._all.values():
            for slot in slots:
                if slot.registered:
                    with contextlib.suppress(Exception):
                        await self._connection.call("unregister_system_shared_memory", slot.region)
                if slot.handle is not None:
                    with contextlib.suppress(Exception):
                        shm.destroy_shared_memory_region(slot.handle)
        self._all.clear()
        self._free.clear()
