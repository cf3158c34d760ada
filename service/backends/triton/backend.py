"""``TritonBackend``: the ``Backend`` protocol on a Triton server, from its connection, checks and requests.

- ``load()`` waits for Triton and the models, then checks each against its card (``verify``).
- ``ready()`` probes the server and the models; after an outage it checks them against the cards again.
- ``infer()`` sends one batch, through shared memory when ``FIQA_TRITON_SHM=true``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import numpy as np
from tritonclient.utils import InferenceServerException

from service.backends.triton.connection import TritonConnection, TritonUnreachable, server_error
from service.backends.triton.request import InferRequest
from service.backends.triton.shared_memory import ShmPool, ShmSlot
from service.backends.triton.verify import ModelInfo, verify
from service.errors import BackendUnavailable, ModelMismatch
from service.registry import Registry
from service.settings import Settings

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 1.0  # readiness probes answer fast or count as "not ready"


class TritonBackend:
    """Runs the card networks on a Triton server; meets ``service.backends.base.Backend``."""

    name = "triton"

    def __init__(self, registry: Registry, settings: Settings):
        self._registry = registry
        self._settings = settings
        self._connection = TritonConnection(settings)
        self._models: dict[str, ModelInfo] = {}
        self._server_version = "unknown"
        self._was_ready = False
        self._shm = ShmPool(self._connection) if settings.triton_shm else None

    async def load(self, names: list[str]) -> None:
        """Wait (up to ``triton_startup_wait_s``) for Triton and the models, then check them against the cards."""
        self._connection.open()
        deadline = time.monotonic() + self._settings.triton_startup_wait_s
        while missing := await self._not_ready(names):
            if time.monotonic() >= deadline:
                raise BackendUnavailable(
                    f"Triton at {self._connection.url} ({self._connection.protocol}) has not served {missing} "
                    f"within {self._settings.triton_startup_wait_s:g} s: is it running with the model repository?"
                )
            await asyncio.sleep(0.5)
        metadata = await self._connection.query("server metadata", "get_server_metadata")
        self._server_version = str(metadata.get("version", "unknown"))
        for name in names:
            self._models[name] = await self._verify(name)
        self._was_ready = True
        log.info(
            "triton %s at %s (%s): %s verified",
            self._server_version,
            self._connection.url,
            self._connection.protocol,
            names,
        )

    async def _not_ready(self, names: list[str]) -> list[str]:
        """Names that are not ready now (all of them when the server itself is down)."""
        call = self._connection.call
        try:
            if not await call("is_server_live", timeout=PROBE_TIMEOUT_S):
                return list(names)
            states = await asyncio.gather(*(call("is_model_ready", name, timeout=PROBE_TIMEOUT_S) for name in names))
        except Exception:  # a probe that fails in any way means "not ready", never an error page
            return list(names)
        return [name for name, ok in zip(names, states, strict=True) if not ok]

    async def _verify(self, name: str) -> ModelInfo:
        card = self._registry[name]
        return await verify(self._connection, card, 1 if card.kind == "detector" else self._settings.max_batch_size)

    async def infer(self, name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if name not in self._models:
            raise BackendUnavailable(f"model {name} is not loaded")
        request = InferRequest(self._connection.module, self._connection.protocol, self._registry[name], inputs)

        async def attempt() -> dict[str, np.ndarray]:
            if self._shm is None:
                return await self._send(name, request)
            async with self._shm.slot(name, request.shm_bytes) as slot:
                slot.write(list(request.arrays.values()))
                return await self._send(name, request, slot)

        try:
            return await self._connection.retrying(name, attempt)
        except TritonUnreachable:
            self._was_ready = False  # check the models against the cards again once Triton is back
            raise
        except InferenceServerException as exc:
            raise server_error(name, exc) from exc

    async def _send(self, name: str, request: InferRequest, slot: ShmSlot | None = None) -> dict[str, np.ndarray]:
        result = await self._connection.call("infer", name, request.inputs(slot), outputs=request.outputs(slot))
        return request.answer(result, slot)

    async def ready(self) -> bool:
        """Server live and every loaded model ready; after an outage the models are checked against the cards again."""
        if not self._connection.is_open or not self._models:
            return False
        if await self._not_ready(list(self._models)):
            self._was_ready = False
            return False
        if not self._was_ready:
            try:
                for name in self._models:
                    self._models[name] = await self._verify(name)
            except ModelMismatch:
                log.exception("Triton came back with models that differ from the cards")
                return False
            except (BackendUnavailable, InferenceServerException):
                return False
            self._was_ready = True
        return True

    def describe(self, name: str) -> dict[str, Any]:
        info = self._models.get(name)
        return {
            "runtime": f"triton {self._server_version}",
            "url": self._connection.url,
            "protocol": self._connection.protocol,
            "shared_memory": self._shm is not None,
            "loaded": info is not None,
            "platform": info.platform if info else None,
            "triton_backend": info.backend if info else None,
            "versions": info.versions if info else [],
            "max_batch_size": info.max_batch_size if info else None,
        }

    async def close(self) -> None:
        if self._shm is not None and self._connection.is_open:
            await self._shm.close()
        await self._connection.close()
        self._models.clear()
