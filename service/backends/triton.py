"""Triton backend: the networks run in an NVIDIA Triton server, reached with the async tritonclient.

- One client (gRPC ``grpc.aio`` by default, ``http.aio`` with ``FIQA_TRITON_PROTOCOL=http``) is created in the
  running event loop and reused by every call; the gRPC channel reconnects within ~1 s once Triton is back.
- Every call has a deadline (``FIQA_TRITON_TIMEOUT_S``). Connection failures and deadlines become
  ``BackendUnavailable`` (HTTP 503 at once, never a hang).
- Retries: only for connection-level failures (gRPC ``UNAVAILABLE``, HTTP connect errors), at most twice with a
  short back-off. Safe because inference here is idempotent: each network is a pure function of its input
  tensors (no sequence batching, no server-side state, no side effects), so a request that did reach Triton
  before the connection broke costs a duplicate computation at worst, never a different answer. Deadlines and
  server-side errors are not retried: they mean Triton accepted the work and is slow or refused it.
- ``load()`` compares each model's metadata (input/output names, dtypes, dims) and config (batch limit,
  ``card_version``) with its card and raises ``ModelMismatch`` on any difference: a repository that drifted
  from the cards stops the gateway at start-up instead of producing wrong scores.
- ``FIQA_TRITON_SHM=true`` passes tensors through POSIX (system) shared memory instead of the socket, for a
  gateway on the same host (or pod, with a shared ``/dev/shm``) as Triton.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from service.errors import BackendUnavailable, ModelMismatch, ServiceError
from service.registry import ModelCard, Registry
from service.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 3  # one call plus two retries, for connection failures only
BACKOFF_S = (0.05, 0.2)
PROBE_TIMEOUT_S = 1.0  # readiness probes answer fast or count as "not ready"
SHM_SLOTS_PER_MODEL = 16
TRITON_DTYPES = {"float32": "FP32", "float16": "FP16", "int64": "INT64", "uint8": "UINT8"}
_GRPC_CONNECTION_STATUS = "StatusCode.UNAVAILABLE"
_GRPC_DEADLINE_STATUS = "StatusCode.DEADLINE_EXCEEDED"


class _Unreachable(Exception):
    """Internal: the request never got an answer because the connection failed (retry candidate)."""


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


@dataclass
class _ModelInfo:
    """What Triton said about a model at load time (for ``describe`` and readiness)."""

    platform: str
    backend: str
    versions: list[str]
    max_batch_size: int
    static_outputs: dict[str, tuple[int, ...]] = field(default_factory=dict)  # outputs with fixed non-batch dims


class _ShmSlot:
    """One system shared-memory region (inputs, then fixed-size outputs) used by one call at a time."""

    def __init__(self, model: str, index: int):
        self.region = f"fiqa_{os.getpid()}_{model}_{index}"
        self.key = f"/{self.region}"
        self.handle: Any = None
        self.size = 0
        self.registered = False


class _ShmPool:
    """Shared-memory slots per model, created on demand and registered with Triton before use."""

    def __init__(self, backend: TritonBackend):
        self._backend = backend
        self._free: dict[str, list[_ShmSlot]] = {}
        self._all: dict[str, list[_ShmSlot]] = {}
        self._available: dict[str, asyncio.Semaphore] = {}

    def invalidate(self) -> None:
        """Triton may have restarted: re-register every region before its next use."""
        for slots in self._all.values():
            for slot in slots:
                slot.registered = False

    @contextlib.asynccontextmanager
    async def slot(self, model: str, size: int):
        from tritonclient.utils import shared_memory as shm

        semaphore = self._available.setdefault(model, asyncio.Semaphore(SHM_SLOTS_PER_MODEL))
        async with semaphore:
            free = self._free.setdefault(model, [])
            slots = self._all.setdefault(model, [])
            if free:
                slot = free.pop()
            else:
                slot = _ShmSlot(model, len(slots))
                slots.append(slot)
            try:
                if slot.size < size:
                    if slot.registered:
                        await self._backend._call(self._backend._client.unregister_system_shared_memory, slot.region)
                        slot.registered = False
                    if slot.handle is not None:
                        shm.destroy_shared_memory_region(slot.handle)
                    slot.size = max(size, 1 << 20)
                    slot.handle = shm.create_shared_memory_region(slot.region, slot.key, slot.size)
                if not slot.registered:
                    await self._register(slot)
                yield slot
            finally:
                free.append(slot)

    async def _register(self, slot: _ShmSlot) -> None:
        client = self._backend._client
        try:
            await self._backend._call(client.register_system_shared_memory, slot.region, slot.key, slot.size)
        except InferenceServerException as exc:
            if "already" not in exc.message().lower():
                raise
            # Still registered from before a connection failure that was not a restart: register afresh.
            await self._backend._call(client.unregister_system_shared_memory, slot.region)
            await self._backend._call(client.register_system_shared_memory, slot.region, slot.key, slot.size)
        slot.registered = True

    async def close(self) -> None:
        from tritonclient.utils import shared_memory as shm

        for slots in self._all.values():
            for slot in slots:
                if slot.registered:
                    with contextlib.suppress(Exception):
                        await self._backend._call(self._backend._client.unregister_system_shared_memory, slot.region)
                if slot.handle is not None:
                    with contextlib.suppress(Exception):
                        shm.destroy_shared_memory_region(slot.handle)
        self._all.clear()
        self._free.clear()


class TritonBackend:
    """Runs the card networks on a Triton server; meets ``service.backends.base.Backend``."""

    name = "triton"

    def __init__(self, registry: Registry, settings: Settings):
        self._registry = registry
        self._settings = settings
        self._protocol = settings.triton_protocol
        self._url = settings.triton_url
        self._timeout = settings.triton_timeout_s
        if self._protocol == "grpc":
            import tritonclient.grpc.aio as client_module
        else:
            import tritonclient.http.aio as client_module
        self._module = client_module
        self._client: Any = None
        self._models: dict[str, _ModelInfo] = {}
        self._server_version = "unknown"
        self._was_ready = False
        self._shm = _ShmPool(self) if settings.triton_shm else None

    # -- connection -------------------------------------------------------------------------------------------

    def _connect(self) -> Any:
        """The one client of this backend; created inside the running event loop (gRPC channels bind to it)."""
        if self._client is None:
            if self._protocol == "grpc":
                self._client = self._module.InferenceServerClient(
                    self._url,
                    channel_args=[
                        ("grpc.max_send_message_length", 2**31 - 1),
                        ("grpc.max_receive_message_length", 2**31 - 1),
                        # Reconnect quickly after Triton restarts (gRPC's default back-off grows to 120 s).
                        ("grpc.initial_reconnect_backoff_ms", 100),
                        ("grpc.min_reconnect_backoff_ms", 100),
                        ("grpc.max_reconnect_backoff_ms", 1000),
                        ("grpc.keepalive_time_ms", 10_000),
                        ("grpc.keepalive_timeout_ms", 5_000),
                        ("grpc.keepalive_permit_without_calls", 1),
                    ],
                )
            else:
                self._client = self._module.InferenceServerClient(self._url, conn_timeout=self._timeout)
        return self._client

    async def _call(self, method: Callable[..., Awaitable[T]], *args: Any, timeout: float | None = None, **kw) -> T:
        """One client call under a deadline; connection failures raise ``_Unreachable``, timeouts 503."""
        timeout = self._timeout if timeout is None else timeout
        if self._protocol == "grpc":
            kw.setdefault("client_timeout", timeout)
        try:
            async with asyncio.timeout(timeout):
                return await method(*args, **kw)
        except Exception as exc:
            if _is_connection_error(exc):
                raise _Unreachable(str(exc)) from exc
            if _is_timeout(exc):
                raise BackendUnavailable(
                    f"Triton at {self._url} did not answer within {timeout:g} s", code="backend_timeout"
                ) from exc
            raise

    async def _with_retries(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        last: Exception | None = None
        for index in range(ATTEMPTS):
            try:
                return await attempt()
            except _Unreachable as exc:
                last = exc
                if self._shm is not None:
                    self._shm.invalidate()
                if index < ATTEMPTS - 1:
                    await asyncio.sleep(BACKOFF_S[min(index, len(BACKOFF_S) - 1)])
        self._was_ready = False
        raise BackendUnavailable(f"Triton at {self._url} is unreachable ({what}): {last}")

    # -- Backend protocol -------------------------------------------------------------------------------------

    async def load(self, names: list[str]) -> None:
        """Wait (up to ``triton_startup_wait_s``) for Triton and the models, then check them against the cards."""
        self._connect()
        deadline = time.monotonic() + self._settings.triton_startup_wait_s
        while True:
            missing = await self._not_ready(names)
            if not missing:
                break
            if time.monotonic() >= deadline:
                raise BackendUnavailable(
                    f"Triton at {self._url} ({self._protocol}) has not served {missing} within "
                    f"{self._settings.triton_startup_wait_s:g} s: is it running with the model repository?"
                )
            await asyncio.sleep(0.5)
        metadata = await self._with_retries("server metadata", lambda: self._call(self._client.get_server_metadata))
        self._server_version = str(_as_dict(metadata).get("version", "unknown"))
        for name in names:
            self._models[name] = await self._verify(name)
        self._was_ready = True
        log.info("triton %s at %s (%s): %s verified", self._server_version, self._url, self._protocol, names)

    async def _not_ready(self, names: list[str]) -> list[str]:
        """Names that are not ready now (all of them when the server itself is down)."""
        try:
            if not await self._call(self._client.is_server_live, timeout=PROBE_TIMEOUT_S):
                return list(names)
            states = await asyncio.gather(
                *(self._call(self._client.is_model_ready, name, timeout=PROBE_TIMEOUT_S) for name in names)
            )
        except Exception:  # a probe that fails in any way means "not ready", never an error page
            return list(names)
        return [name for name, ok in zip(names, states, strict=True) if not ok]

    async def _verify(self, name: str) -> _ModelInfo:
        card = self._registry[name]
        metadata = _as_dict(
            await self._with_retries(f"{name} metadata", lambda: self._get(self._client.get_model_metadata, name))
        )
        config = _as_dict(
            await self._with_retries(f"{name} config", lambda: self._get(self._client.get_model_config, name))
        )
        config = config.get("config", config)  # gRPC wraps the config, HTTP does not
        check_metadata(card, metadata)
        max_batch = int(config.get("max_batch_size", 0))
        needed = 1 if card.kind == "detector" else self._settings.max_batch_size
        if 0 < max_batch < needed:
            raise ModelMismatch(
                f"{name}: Triton's max_batch_size {max_batch} is below the gateway's batches of {needed} "
                "(FIQA_MAX_BATCH_SIZE): rebuild the repository or lower the setting"
            )
        served_version = config.get("parameters", {}).get("card_version", {}).get("string_value")
        if served_version is None:
            log.warning("%s: the Triton config states no card_version; cannot tell which card it was built from", name)
        elif served_version != card.version:
            raise ModelMismatch(
                f"{name}: Triton serves card version {served_version!r}, the gateway has {card.version!r}"
            )
        static = {}
        for spec in card.outputs:
            tail = tuple(spec.shape[1:])
            if spec.shape and spec.shape[0] == -1 and all(dim > 0 for dim in tail):
                static[spec.name] = tail
        return _ModelInfo(
            platform=str(metadata.get("platform", "")),
            backend=str(config.get("backend", "")),
            versions=[str(v) for v in metadata.get("versions", [])],
            max_batch_size=max_batch,
            static_outputs=static,
        )

    async def _get(self, method: Callable[..., Awaitable[Any]], name: str) -> Any:
        if self._protocol == "grpc":
            return await self._call(method, name, as_json=True)
        return await self._call(method, name)

    async def infer(self, name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        info = self._models.get(name)
        if info is None:
            raise BackendUnavailable(f"model {name} is not loaded")
        card = self._registry[name]
        try:
            if self._shm is not None:
                return await self._infer_shm(name, card, info, inputs)
            return await self._with_retries(name, lambda: self._infer_once(name, card, inputs))
        except InferenceServerException as exc:
            raise _server_error(name, exc) from exc

    def _tensors(self, inputs: dict[str, np.ndarray]) -> list[Any]:
        tensors = []
        for key, value in inputs.items():
            array = np.ascontiguousarray(value)
            tensor = self._module.InferInput(key, list(array.shape), np_to_triton_dtype(array.dtype))
            tensor.set_data_from_numpy(array)
            tensors.append(tensor)
        return tensors

    def _requested(self, card: ModelCard) -> list[Any]:
        if self._protocol == "grpc":
            return [self._module.InferRequestedOutput(spec.name) for spec in card.outputs]
        return [self._module.InferRequestedOutput(spec.name, binary_data=True) for spec in card.outputs]

    async def _infer_once(self, name: str, card: ModelCard, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        result = await self._call(self._client.infer, name, self._tensors(inputs), outputs=self._requested(card))
        outputs = {}
        for spec in card.outputs:
            array = result.as_numpy(spec.name)
            if array is None:
                raise ModelMismatch(f"{name}: Triton's answer lacks output {spec.name}")
            outputs[spec.name] = array if array.flags.writeable else array.copy()
        return outputs

    async def _infer_shm(
        self, name: str, card: ModelCard, info: _ModelInfo, inputs: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Inputs (and fixed-shape outputs) through shared memory; outputs with dynamic dims in the reply."""
        from tritonclient.utils import shared_memory as shm

        arrays = {key: np.ascontiguousarray(value) for key, value in inputs.items()}
        rows = next(iter(arrays.values())).shape[0]
        input_bytes = sum(array.nbytes for array in arrays.values())
        out_layout: dict[str, tuple[int, tuple[int, ...], int]] = {}
        offset = input_bytes
        for spec in card.outputs:
            if spec.name in info.static_outputs:
                shape = (rows, *info.static_outputs[spec.name])
                size = int(np.prod(shape)) * np.dtype(spec.dtype).itemsize
                out_layout[spec.name] = (offset, shape, size)
                offset += size

        async def attempt() -> dict[str, np.ndarray]:
            async with self._shm.slot(name, offset) as slot:
                shm.set_shared_memory_region(slot.handle, list(arrays.values()))
                tensors, position = [], 0
                for key, array in arrays.items():
                    tensor = self._module.InferInput(key, list(array.shape), np_to_triton_dtype(array.dtype))
                    tensor.set_shared_memory(slot.region, array.nbytes, position)
                    tensors.append(tensor)
                    position += array.nbytes
                requested = self._requested(card)
                for output in requested:
                    if output.name() in out_layout:
                        start, _, size = out_layout[output.name()]
                        output.set_shared_memory(slot.region, size, start)
                try:
                    result = await self._call(self._client.infer, name, tensors, outputs=requested)
                except InferenceServerException as exc:
                    if "shared memory" not in exc.message().lower():
                        raise
                    self._shm.invalidate()  # Triton restarted and forgot the regions: register them again
                    raise _Unreachable(exc.message()) from exc
                outputs = {}
                for spec in card.outputs:
                    if spec.name in out_layout:
                        start, shape, _ = out_layout[spec.name]
                        outputs[spec.name] = shm.get_contents_as_numpy(
                            slot.handle, np.dtype(spec.dtype), list(shape), offset=start
                        ).copy()
                    else:
                        outputs[spec.name] = np.array(result.as_numpy(spec.name))
                return outputs

        return await self._with_retries(name, attempt)

    async def ready(self) -> bool:
        """Server live and every loaded model ready; after an outage the models are checked against the cards again."""
        if self._client is None or not self._models:
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
            "url": self._url,
            "protocol": self._protocol,
            "shared_memory": self._shm is not None,
            "loaded": info is not None,
            "platform": info.platform if info else None,
            "triton_backend": info.backend if info else None,
            "versions": info.versions if info else [],
            "max_batch_size": info.max_batch_size if info else None,
        }

    async def close(self) -> None:
        if self._shm is not None and self._client is not None:
            await self._shm.close()
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()
            self._client = None
        self._models.clear()


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(value, preserving_proto_field_name=True)


def check_metadata(card: ModelCard, metadata: dict[str, Any]) -> None:
    """Raise ``ModelMismatch`` unless Triton's tensors equal the card's (names, dtypes, dims with -1 = dynamic)."""
    for kind, specs, served in (
        ("input", card.inputs, metadata.get("inputs", [])),
        ("output", card.outputs, metadata.get("outputs", [])),
    ):
        by_name = {tensor["name"]: tensor for tensor in served}
        wanted = sorted(spec.name for spec in specs)
        if wanted != sorted(by_name):
            raise ModelMismatch(f"{card.name}: Triton serves {kind}s {sorted(by_name)}, the card names {wanted}")
        for spec in specs:
            tensor = by_name[spec.name]
            if tensor.get("datatype") != TRITON_DTYPES[spec.dtype]:
                raise ModelMismatch(
                    f"{card.name}: {kind} {spec.name} is {tensor.get('datatype')} in Triton, {spec.dtype} in the card"
                )
            shape = [int(dim) for dim in tensor.get("shape", [])]
            if shape != list(spec.shape):
                raise ModelMismatch(
                    f"{card.name}: {kind} {spec.name} has shape {shape} in Triton, {spec.shape} in the card"
                )


def _server_error(name: str, exc: InferenceServerException) -> ServiceError:
    """Triton answered with an error: a missing or unready model is a 503, anything else a 500."""
    message = exc.message() or str(exc)
    lowered = message.lower()
    if "unknown model" in lowered or "not ready" in lowered or "unavailable" in lowered:
        return BackendUnavailable(f"Triton cannot serve {name}: {message}")
    return ServiceError(f"Triton failed on {name}: {message}", code="backend_error")
