"""The gateway's own parts (settings, model cards, backend, quality methods) driven synchronously for batch work.

Evaluation must score faces exactly as the service does, so nothing here re-implements detection, alignment,
preprocessing or a quality method: it builds them with the service's factories and calls them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from service.backends import create_backend
from service.detect import DETECTOR, Face, detect
from service.quality import build_methods
from service.quality.base import QualityMethod
from service.registry import Registry
from service.settings import Settings
from service.timing import Timings


class Gateway:
    """Backend + quality methods of the service, with one private event loop for their async calls."""

    def __init__(self, settings: Settings | None = None):
        # One inference thread: evaluation runs beside other jobs on a small machine.
        self.settings = settings or Settings(ort_intra_op_threads=1, cpu_workers=1)
        self.registry = Registry(self.settings.models_dir)
        self.methods: dict[str, QualityMethod] = build_methods(self.registry, self.settings)
        self.backend = create_backend(self.settings, self.registry)
        self._loop = asyncio.new_event_loop()
        self._loaded: set[str] = set()

    def missing_files(self, name: str) -> list[str]:
        """Network files a quality method needs that are not on disk (e.g. a model card whose training has not
        produced its ONNX file yet)."""
        card = self.registry[name]
        return [str(self.registry.file_of(n)) for n in card.networks if not self.registry.file_of(n).exists()]

    def _run(self, coroutine: Any) -> Any:
        return self._loop.run_until_complete(coroutine)

    def load(self, names: list[str]) -> None:
        missing = sorted(set(names) - self._loaded)
        if missing:
            self._run(self.backend.load(missing))
            self._loaded.update(missing)

    def infer(self, name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.load([name])
        return self._run(self.backend.infer(name, inputs))

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in a frame with the service's detector settings."""
        self.load([DETECTOR])
        s = self.settings
        coroutine = detect(
            self.backend,
            rgb,
            Timings(),
            max_side=s.det_max_side,
            threshold=s.det_threshold,
            iou_threshold=s.det_nms_iou,
        )
        return self._run(coroutine)

    def quality_raw(self, name: str, crops: np.ndarray, batch: int = 16) -> np.ndarray:
        """Raw scores of aligned crops by the named quality method, through the backend, as the pipeline does."""
        method = self.methods[name]
        self.load(method.card.networks)
        out = []
        for start in range(0, len(crops), batch):
            chunk = crops[start : start + batch]
            inputs = method.prepare(chunk)
            outputs = {network: self.infer(network, tensors) for network, tensors in inputs.items()}
            out.append(method.postprocess(outputs, len(chunk)))
        return np.concatenate(out) if out else np.zeros(0)

    def close(self) -> None:
        self._run(self.backend.close())
        self._loop.close()
