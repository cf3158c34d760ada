"""Run every network once at the largest input it will see, and every component measure once, before the gateway
reports ready.

onnxruntime's CPU memory arena grows to the largest tensors a session has run and keeps that memory. Without a
warm-up the gateway's resident memory climbs for minutes as rare large inputs (a square frame, a full batch of
rows from a group photo) arrive, which looks like a leak on a dashboard, and the first large request pays for the
allocation. Warming up at the largest shapes puts the process at its steady-state size from the start. Some measures
compute lazily on first use as well (OpenCV builds its CIELAB tables on its first colour conversion, for
NaturalColour): they run once on a synthetic face, so that no first request pays for it.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from insightface.utils import face_align

from service.align import align
from service.backends.base import Backend
from service.detect import DETECTOR, STRIDE, Face
from service.measures import MEASURES, FaceView, MeasureResult, assess
from service.registry import Registry
from service.settings import Settings

log = logging.getLogger(__name__)


def largest_inputs(registry: Registry, name: str, settings: Settings) -> dict[str, np.ndarray]:
    """Zero inputs of the largest shape ``name`` receives: the detector gets one frame of the largest letterbox
    (``det_max_side`` padded to the stride, square); other networks a full micro-batch of rows."""
    side = -(-settings.det_max_side // STRIDE) * STRIDE
    batch = 1 if name == DETECTOR else settings.max_batch_size
    inputs = {}
    for spec in registry[name].inputs:
        shape = [batch if axis == 0 else (side if dim < 0 else dim) for axis, dim in enumerate(spec.shape)]
        inputs[spec.name] = np.zeros(shape, dtype=spec.dtype)
    return inputs


async def warm_up(backend: Backend, registry: Registry, names: list[str], settings: Settings) -> dict[str, float]:
    """Run each network once at its largest inputs; returns seconds per network (logged)."""
    seconds = {}
    for name in names:
        start = time.perf_counter()
        await backend.infer(name, largest_inputs(registry, name, settings))
        seconds[name] = round(time.perf_counter() - start, 3)
    log.info("warm-up at the largest input shapes: %s", seconds)
    return seconds


def warm_up_measures() -> dict[str, MeasureResult]:
    """Assess every component measure once on a synthetic face: a grey frame the size of the aligned crop holding
    the ArcFace template's landmarks (the measures that read a network find none and say so)."""
    side = 112
    frame = np.full((side, side, 3), 128, dtype=np.uint8)
    landmarks = face_align.arcface_dst.astype(np.float64)
    face = Face(box=np.array([0.0, 0.0, float(side), float(side)]), landmarks=landmarks, score=1.0)
    start = time.perf_counter()
    results = assess(list(MEASURES), FaceView.of(face, align(frame, landmarks), (side, side), [face]))
    log.info("warm-up of the component measures: %.3f s", time.perf_counter() - start)
    return results
