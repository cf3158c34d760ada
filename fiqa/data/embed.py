"""Face-recognition embeddings of aligned crops with the gateway's ``fr_feature`` network (the teacher).

Runs through the gateway's onnxruntime backend and the card's preprocessing (``network_input``), so labels and
distillation targets see exactly what the served model sees.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from fiqa.data.runtime import offline_runtime
from service.quality.base import network_input
from service.runtime import Runtime

TEACHER = "fr_feature"


def ort_runtime(names: list[str], models_dir: Path | None = None, threads: int = 1) -> Runtime:
    """The gateway's runtime on its embedded onnxruntime backend with ``names`` loaded, so that
    ``runtime.backend.infer_sync`` runs them in the caller's thread (batch work needs no event loop)."""
    overrides = {"models_dir": models_dir} if models_dir else {}
    runtime = offline_runtime(backend="onnxruntime", ort_intra_op_threads=threads, cpu_workers=1, **overrides)
    runtime.backend.load_sync(names)
    return runtime


def chunked(count: int, size: int):
    for start in range(0, count, size):
        yield slice(start, min(start + size, count))


class Embedder:
    """L2-normalised embeddings of RGB uint8 or float pixel crops (N, 112, 112, 3)."""

    def __init__(self, name: str = TEACHER, models_dir: Path | None = None, threads: int = 1):
        runtime = ort_runtime([name], models_dir, threads)
        self.backend = runtime.backend
        self.card = runtime.registry[name]

    def __call__(
        self, pixels: np.ndarray, batch: int = 64, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        assert self.card.preprocess is not None
        out = []
        for part in chunked(len(pixels), batch):
            tensor = network_input(np.asarray(pixels[part]), self.card.preprocess)
            result = self.backend.infer_sync(self.card.name, {self.card.inputs[0].name: tensor})
            out.append(result[self.card.outputs[0].name])
            if progress:
                progress(part.stop)
        embeddings = np.concatenate(out).astype(np.float32)
        return embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
