"""Embedded backend: onnxruntime sessions in this process, run on a small thread pool."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import onnxruntime as ort

from service.backends.contract import ServedTensor, check_contract
from service.backends.prelu import depthwise_prelu
from service.errors import BackendUnavailable
from service.registry import MEASURE_NETWORKS, Registry
from service.settings import Settings

log = logging.getLogger(__name__)

_NUMPY_NAMES = {"float": "float32", "double": "float64"}  # ONNX element names that numpy spells otherwise


def intra_op_threads(settings: Settings, kind: str) -> int:
    """A session's intra-op threads by the kind of network it runs: measure networks, the detector, the rest."""
    if kind in MEASURE_NETWORKS:
        return settings.ort_measure_intra_op_threads
    if kind == "detector":
        return settings.ort_intra_op_threads
    return settings.ort_quality_intra_op_threads


class OnnxRuntimeBackend:
    """One ``InferenceSession`` per network; sessions release the GIL, so a thread pool overlaps them."""

    name = "onnxruntime"

    def __init__(self, registry: Registry, settings: Settings):
        self._registry = registry
        self._settings = settings
        self._sessions: dict[str, ort.InferenceSession] = {}
        self._executor = ThreadPoolExecutor(max_workers=max(1, settings.cpu_workers), thread_name_prefix="ort")

    def _session_options(self, name: str) -> ort.SessionOptions:
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads(self._settings, self._registry[name].kind)
        options.inter_op_num_threads = self._settings.ort_inter_op_threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        spinning = "1" if self._settings.ort_allow_spinning else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
        options.add_session_config_entry("session.inter_op.allow_spinning", spinning)
        return options

    def load_sync(self, names: list[str]) -> None:
        """Create missing sessions and check their tensors against the cards."""
        available = set(ort.get_available_providers())
        providers = [p for p in self._settings.ort_providers if p in available] or ["CPUExecutionProvider"]
        for name in names:
            if name in self._sessions:
                continue
            path = self._registry.file_of(name)
            if not path.exists():
                raise BackendUnavailable(f"model file {path} is missing: run `make models`")
            # The verified bytes, in a form onnxruntime's CPU kernels run faster (the same network otherwise).
            data = depthwise_prelu(self._registry.read_verified(name))
            session = ort.InferenceSession(data, self._session_options(name), providers=providers)
            check_contract(
                self._registry[name],
                [_served(tensor) for tensor in session.get_inputs()],
                [_served(tensor) for tensor in session.get_outputs()],
            )
            if session.get_providers()[0] != providers[0]:
                log.warning("%s: asked for %s, running on %s", name, providers[0], session.get_providers())
            self._sessions[name] = session

    async def load(self, names: list[str]) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self.load_sync, names)

    def infer_sync(self, name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        session = self._sessions.get(name)
        if session is None:
            raise BackendUnavailable(f"model {name} is not loaded")
        names = [spec.name for spec in self._registry[name].outputs]
        return dict(zip(names, session.run(names, inputs), strict=True))

    async def infer(self, name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.infer_sync, name, inputs)

    async def ready(self) -> bool:
        return bool(self._sessions)

    def describe(self, name: str) -> dict[str, Any]:
        session = self._sessions.get(name)
        return {
            "runtime": f"onnxruntime {ort.__version__}",
            "providers": session.get_providers() if session else [],
            "loaded": session is not None,
        }

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._sessions.clear()


def _served(tensor: ort.NodeArg) -> ServedTensor:
    """A session tensor for the card contract: ``tensor(float)`` -> ``float32``, symbolic or unknown dims -> -1."""
    element = tensor.type.removeprefix("tensor(").removesuffix(")")
    shape = tuple(dim if isinstance(dim, int) and dim > 0 else -1 for dim in tensor.shape or ())
    return ServedTensor(tensor.name, _NUMPY_NAMES.get(element, element), shape)
