"""Samples -> aligned crops and face facts, with the service's decode, detect and align.

The largest detected face of each image is the sample's face (as the gateway orders faces). An image without a
detected face is a failure to acquire: it gets no crop, and its comparisons are left out of the EDC (the report
counts them). With ``aligned=True`` the images are taken as already-aligned crops (resized to the crop size if
they are not), and there are no detection facts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from fiqa.evaluate.cache import Cache, tag_of
from fiqa.evaluate.datasets import Dataset
from service.align import align
from service.decode import decode_image
from service.errors import ServiceError
from service.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class Acquired:
    """Per-sample arrays, index-aligned with ``Dataset.samples``."""

    ok: np.ndarray  # (N,) bool: a face was found
    crops: np.ndarray  # (N, S, S, 3) uint8, zeros where not ok
    boxes: np.ndarray  # (N, 4) frame pixels, NaN where unknown
    landmarks: np.ndarray  # (N, 5, 2) frame pixels, NaN where unknown
    det_score: np.ndarray  # (N,) NaN where unknown
    inter_eye: np.ndarray  # (N,) pixels, NaN where unknown
    out_of_frame: np.ndarray  # (N,)
    faces_detected: np.ndarray  # (N,) int, -1 where detection was not run

    def arrays(self) -> dict[str, np.ndarray]:
        return dict(vars(self))


def decode(runtime: Runtime, data: bytes) -> np.ndarray:
    s = runtime.settings
    return decode_image(data, max_bytes=s.max_body_bytes, max_pixels=s.max_pixels, min_side=s.min_image_side).rgb


def _acquire(runtime: Runtime, dataset: Dataset, aligned: bool, size: int, indices: np.ndarray) -> Acquired:
    """Faces of the samples at ``indices`` (one row per index)."""
    count = len(indices)
    result = Acquired(
        ok=np.zeros(count, dtype=bool),
        crops=np.zeros((count, size, size, 3), dtype=np.uint8),
        boxes=np.full((count, 4), np.nan),
        landmarks=np.full((count, 5, 2), np.nan),
        det_score=np.full(count, np.nan),
        inter_eye=np.full(count, np.nan),
        out_of_frame=np.zeros(count),
        faces_detected=np.full(count, -1, dtype=np.int64),
    )
    for index, sample in enumerate(dataset.samples[i] for i in indices):
        try:
            rgb = decode(runtime, sample.load())
        except (ServiceError, OSError) as error:
            log.warning("%s: %s", sample.key, error)
            continue
        if aligned:
            same = rgb.shape[:2] == (size, size)
            result.crops[index] = rgb if same else cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
            result.ok[index] = True
            continue
        faces = runtime.detect(rgb)
        result.faces_detected[index] = len(faces)
        if not faces:
            continue
        face = max(faces, key=lambda f: f.area)
        crop = align(rgb, face.landmarks, size)
        result.ok[index] = True
        result.crops[index] = crop.crop
        result.boxes[index] = face.box
        result.landmarks[index] = face.landmarks
        result.det_score[index] = face.score
        result.inter_eye[index] = face.inter_eye_distance
        result.out_of_frame[index] = crop.out_of_frame
    return result


def acquire(
    runtime: Runtime,
    dataset: Dataset,
    cache: Cache,
    aligned: bool = False,
    size: int = 112,
    needed: np.ndarray | None = None,
) -> Acquired:
    """Faces of the needed samples (default: all), from the cache when the detector settings and sample list are
    unchanged; samples not needed have ``ok = False``."""
    tag = faces_tag(runtime, aligned, size)
    count = len(dataset.samples)
    needed = np.ones(count, dtype=bool) if needed is None else needed
    arrays = cache.rows(
        "faces", tag, count, needed, lambda idx: _acquire(runtime, dataset, aligned, size, idx).arrays(), chunk=500
    )
    faces = Acquired(**arrays)
    faces.ok &= needed
    return faces


def faces_tag(runtime: Runtime, aligned: bool, size: int = 112) -> str:
    """What acquired faces depend on: the detector, its settings (the fast path's only when it is on, so the full
    path's cached faces keep their tag) and the crop size."""
    s = runtime.settings
    settings: tuple[object, ...] = (s.det_max_side, s.det_threshold, s.det_nms_iou)
    if s.detector_mode == "fast":
        settings += ("fast", s.det_fast_side, s.det_refine_side, s.det_refine_margin)
    return tag_of("acquire-v1", aligned, size, settings, runtime.registry["centerface"].version)
