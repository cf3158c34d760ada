"""The composition root: one ``Settings`` -> model cards, quality methods, backend, detector and micro-batchers.

The gateway, the CLI, evaluation, labelling and the benchmarks all build through ``Runtime``, so a face is
detected, prepared and scored the same way wherever it is scored. Two ways to drive it: ``start``/``close`` from
an event loop (serving), or the blocking ``load``/``infer``/``detect``/``score_crops`` on a private loop (batch work).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import numpy as np

from service.align import AlignedFace
from service.backends import create_backend
from service.backends.base import Backend
from service.batching import MicroBatcher
from service.detect import DETECTOR, DetectorTensors, Face, detect
from service.detect_fast import FastDetector, detect_fast
from service.errors import BackendUnavailable, ModelMismatch
from service.measures import MEASURES, FaceView, MeasureResult, assess_faces, networks_for
from service.measures.networks import Outputs, run_networks
from service.quality import build_methods
from service.quality.base import QualityMethod
from service.registry import CardError, Registry
from service.settings import Settings
from service.timing import Timings
from service.warmup import warm_up, warm_up_measures

log = logging.getLogger(__name__)
T = TypeVar("T")


class Runtime:
    """Everything long-lived that scoring needs, built from one ``Settings``."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.registry = Registry(settings.models_dir)
        self.methods: dict[str, QualityMethod] = build_methods(self.registry, settings.default_models)
        primary = settings.default_models[0]
        if primary in self.registry and self.registry[primary].maps_only:
            raise CardError(f"{primary}: a maps-only model cannot be the first default model (it gives no score)")
        self.backend: Backend = create_backend(settings, self.registry)
        self.detector = DetectorTensors.from_card(self.registry[DETECTOR])
        self.fast_detector = FastDetector.from_settings(settings)
        self.batchers: dict[str, MicroBatcher] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loaded: set[str] = set()

    @classmethod
    def from_env(cls, **overrides: Any) -> Runtime:
        """Settings from the environment (``FIQA_*``), with ``overrides`` taking precedence."""
        return cls(Settings(**overrides))

    # --- serving: called from a running event loop ---------------------------------------------------------

    async def start(self) -> None:
        """Load the detector and every method's networks, warm them up, then start one micro-batcher per network.

        An optional model that cannot be loaded is left out (absent from ``methods``), so one missing or mismatched
        file does not keep the gateway down; a default model's failure raises.
        """
        await self.backend.load([DETECTOR])
        for name, method in list(self.methods.items()):
            try:
                await self.backend.load(method.card.networks)
            except (BackendUnavailable, ModelMismatch) as error:
                if name in self.settings.default_models:
                    raise
                log.warning("quality model %s left out: %s", name, error.message)
                del self.methods[name]
        networks = sorted({net for method in self.methods.values() for net in method.card.networks})
        networks += await self._load_measure_networks()
        s = self.settings
        if s.warmup:
            await warm_up(self.backend, self.registry, [DETECTOR, *networks], s)
            await asyncio.to_thread(warm_up_measures)
        self.batchers = {
            name: MicroBatcher(
                name,
                self.backend.infer,
                max_batch=s.max_batch_size,
                max_wait_s=s.max_wait_ms / 1000.0,
                max_queue_rows=s.max_queue_rows,
                retry_after_s=s.retry_after_s,
            )
            for name in networks
        }

    async def _load_measure_networks(self) -> list[str]:
        """The networks component measures read (FaceMesh...), loaded when their cards and files are there; one that
        cannot be loaded is left out with a warning, and its measures answer 'not assessable'."""
        loaded = []
        for name in sorted(networks_for(list(MEASURES)) & set(self.registry.cards)):
            try:
                await self.backend.load([name])
            except (BackendUnavailable, ModelMismatch) as error:
                log.warning("measure network %s left out: %s", name, error.message)
                continue
            loaded.append(name)
        return loaded

    async def close(self) -> None:
        """Stop the batchers, then release the backend's sessions, connections and threads."""
        for batcher in self.batchers.values():
            await batcher.close()
        self.batchers = {}
        await self.backend.close()

    async def __aenter__(self) -> Runtime:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def detect_faces(
        self, rgb: np.ndarray, timings: Timings, upscale: int = 1, frame_size: tuple[int, int] | None = None
    ) -> list[Face]:
        """Faces in a frame with the service's detector settings, by the path ``detector_mode`` names (see
        ``service.detect.detect`` for the rest)."""
        s = self.settings
        if s.detector_mode == "fast":
            return await detect_fast(
                self.backend, self.detector, rgb, timings, self.fast_detector, upscale=upscale, frame_size=frame_size
            )
        return await detect(
            self.backend,
            self.detector,
            rgb,
            timings,
            max_side=s.det_max_side,
            threshold=s.det_threshold,
            iou_threshold=s.det_nms_iou,
            upscale=upscale,
            frame_size=frame_size,
        )

    # --- batch work: blocking calls on a private event loop -------------------------------------------------

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(coroutine)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` to its end on the private loop, the one the backend's connections were opened in (a
        gRPC channel to Triton serves only the loop that made it): for callers driving the async parts themselves."""
        return self._run(coroutine)

    def load(self, names: list[str]) -> None:
        """Load the named networks that are not loaded yet."""
        missing = sorted(set(names) - self._loaded)
        if missing:
            self._run(self.backend.load(missing))
            self._loaded.update(missing)

    def infer(self, name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One batch through one network (loaded on first use)."""
        self.load([name])
        return self._run(self.backend.infer(name, inputs))

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in a frame with the service's detector settings."""
        self.load([DETECTOR])
        return self._run(self.detect_faces(rgb, Timings()))

    def measure_networks(self, names: list[str], rgb: np.ndarray, faces: list[Face]) -> list[dict[str, Outputs]]:
        """Per face, the outputs (by role) of every network the named measures read, as the pipeline gets them:
        the networks side by side (blocking, unbatched across calls)."""
        networks = sorted(networks_for(names) & set(self.registry.cards))
        self.load(networks)
        return self._run(run_networks(self.registry.cards, networks, rgb, faces, self.backend.infer))

    def measure(
        self, names: list[str], rgb: np.ndarray, faces: list[Face], aligned: list[AlignedFace], detected: list[Face]
    ) -> list[dict[str, MeasureResult]]:
        """The named measures on ``faces`` (aligned as ``aligned``; ``detected``: every face of the frame), as the
        pipeline measures them: the networks, then every measure."""
        size = (rgb.shape[1], rgb.shape[0])
        views = [FaceView.of(face, crop, size, detected) for face, crop in zip(faces, aligned, strict=True)]
        networks = sorted(networks_for(names) & set(self.registry.cards))
        self.load(networks)
        outputs = run_networks(self.registry.cards, networks, rgb, faces, self.backend.infer, aligned)
        return self._run(assess_faces(names, views, outputs))

    def score_crops(self, name: str, crops: np.ndarray, batch: int = 16) -> np.ndarray:
        """Raw scores of aligned crops by the named quality method (prepare -> backend -> postprocess), as served."""
        method = self.methods[name]
        self.load(method.card.networks)
        out = []
        for start in range(0, len(crops), batch):
            chunk = crops[start : start + batch]
            inputs = method.prepare(chunk)
            outputs = {network: self.infer(network, tensors) for network, tensors in inputs.items()}
            out.append(method.postprocess(outputs, len(chunk)))
        return np.concatenate(out) if out else np.zeros(0)

    def missing_files(self, name: str) -> list[str]:
        """Network files a quality method needs that are not on disk (e.g. a card whose training has not produced
        its ONNX file yet)."""
        files = [self.registry.file_of(network) for network in self.registry[name].networks]
        return [str(path) for path in files if not path.exists()]

    def shutdown(self) -> None:
        """Release the backend and the private event loop (the blocking counterpart of ``close``)."""
        self._run(self.backend.close())
        if self._loop is not None:
            self._loop.close()
            self._loop = None
