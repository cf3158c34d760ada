"""Inference backends behind one small interface (``Backend``)."""

from __future__ import annotations

from service.backends.base import Backend
from service.registry import Registry
from service.settings import Settings


def create_backend(settings: Settings, registry: Registry) -> Backend:
    """The backend the settings name; imported lazily so the embedded path needs no tritonclient."""
    if settings.backend == "onnxruntime":
        from service.backends.onnxruntime import OnnxRuntimeBackend

        return OnnxRuntimeBackend(registry, settings)
    if settings.backend == "triton":
        from service.backends.triton import TritonBackend

        return TritonBackend(registry, settings)
    raise ValueError(f"backend {settings.backend!r} is not available in this build")
