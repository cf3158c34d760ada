"""The cheap capture path (``detector_mode=fast``): CenterFace on a small letterbox to find faces, then once more on a
square crop around each face to place its box and landmarks at crop resolution.

A capture frame holds one large, near-frontal face, so a full-size search of it is mostly spent on empty background.
The full path (``service.detect.detect`` at ``det_max_side``) stays the reference and the fallback: it runs instead
whenever the coarse pass cannot be trusted to have seen every face (none found, a small face, many faces) or a
refinement loses its face. ``loadtests/bench_detector.py`` measures both paths side by side.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import cv2
import numpy as np

from service.backends.base import Backend
from service.detect import DETECTOR, DetectorTensors, Face, Heads, Letterbox, decode, detect
from service.settings import Settings
from service.timing import Timings

# A face narrower than this in the coarse letterbox sends the frame to the full pass: faces smaller still may have been
# missed beside it. From this size up, one coarse pass finds at least 99 % of the faces the full path finds, band by
# band, on the detector benchmark's selection set (loadtests/bench_detector.py ``coarse_recall``, reports/detector.md).
SMALL_FACE_PX = 32
# More faces than this is a group photo, not a capture frame: the full pass is then both safer and not dearer.
MAX_REFINED = 3
# A refined face must overlap its coarse box at least this much to be taken as the same face.
MIN_IOU = 0.3


@dataclass(frozen=True)
class FastDetector:
    """The two-pass settings: the coarse letterbox side, the refinement input side (0: no refinement, the coarse
    faces as found), the full path's side, and the refinement crop's side in units of the coarse box's long side (a
    margin for the box and landmarks to move; the smaller it is, the more input pixels the face gets)."""

    coarse_side: int
    refine_side: int
    full_side: int
    threshold: float
    iou_threshold: float
    refine_margin: float

    @classmethod
    def from_settings(cls, s: Settings) -> FastDetector:
        return cls(
            s.det_fast_side, s.det_refine_side, s.det_max_side, s.det_threshold, s.det_nms_iou, s.det_refine_margin
        )


@dataclass(frozen=True)
class Crop:
    """A square window of the frame (may reach past its borders, padded with zeros) and its network input."""

    x0: float
    y0: float
    side: float
    pixels: np.ndarray  # (refine_side, refine_side, 3) float32


def crop_around(rgb: np.ndarray, box: np.ndarray, size: int, margin: float) -> Crop:
    """The square of ``margin`` x the box's long side centred on the box, resized to ``size`` (area interpolation
    when shrinking, so a large face is averaged rather than aliased)."""
    side = max(1, round(margin * float(max(box[2] - box[0], box[3] - box[1]))))
    x0, y0 = round((box[0] + box[2] - side) / 2), round((box[1] + box[3] - side) / 2)
    height, width = rgb.shape[:2]
    window = np.zeros((side, side, 3), dtype=rgb.dtype)
    left, top, right, bottom = max(x0, 0), max(y0, 0), min(x0 + side, width), min(y0 + side, height)
    if right > left and bottom > top:
        window[top - y0 : bottom - y0, left - x0 : right - x0] = rgb[top:bottom, left:right]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    pixels = cv2.resize(window, (size, size), interpolation=interpolation)
    return Crop(x0=float(x0), y0=float(y0), side=float(side), pixels=pixels.astype(np.float32))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes."""
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def needs_full_pass(faces: list[Face], long_side: int, coarse_side: int) -> bool:
    """Whether the coarse pass's faces (in the pixels of a frame ``long_side`` long) cannot stand in for a full search
    of the frame."""
    if not faces or len(faces) > MAX_REFINED:
        return True
    smallest = SMALL_FACE_PX * long_side / coarse_side
    return any(max(face.box[2] - face.box[0], face.box[3] - face.box[1]) < smallest for face in faces)


def refined_face(heads: Heads, crop: Crop, coarse: Face, size: int, settings: FastDetector) -> Face | None:
    """The detection in ``crop`` that is ``coarse``'s face, in frame pixels (None: the crop lost it)."""
    frame = Letterbox(blob=np.empty((1, 3, size, size), np.float32), scale=size / crop.side)
    found = decode(heads, frame, (round(crop.side), round(crop.side)), settings.threshold, settings.iou_threshold)
    shift = np.array([crop.x0, crop.y0])
    moved = [Face(box=f.box + np.tile(shift, 2), landmarks=f.landmarks + shift, score=f.score) for f in found]
    best = max(moved, key=lambda face: iou(face.box, coarse.box), default=None)
    return best if best is not None and iou(best.box, coarse.box) >= MIN_IOU else None


def in_frame(face: Face, upscale: int, frame_size: tuple[int, int]) -> Face:
    """A face found in a (possibly reduced) decode, in the frame's own pixels and clipped to it."""
    width, height = frame_size
    box = np.clip(face.box * upscale, 0, [width, height, width, height])
    return Face(box=box, landmarks=face.landmarks * upscale, score=face.score)


async def detect_fast(
    backend: Backend,
    tensors: DetectorTensors,
    rgb: np.ndarray,
    timings: Timings,
    settings: FastDetector,
    *,
    upscale: int = 1,
    frame_size: tuple[int, int] | None = None,
) -> list[Face]:
    """Faces of one frame by the two-pass path, or by the full path where it must stand in (same arguments as
    ``service.detect.detect``)."""
    size = frame_size or (rgb.shape[1] * upscale, rgb.shape[0] * upscale)
    long_side = max(rgb.shape[:2])

    async def one_pass(max_side: int, scale: int = 1, frame: tuple[int, int] | None = None) -> list[Face]:
        limits = {"threshold": settings.threshold, "iou_threshold": settings.iou_threshold}
        return await detect(
            backend, tensors, rgb, timings, max_side=max_side, upscale=scale, frame_size=frame, **limits
        )

    async def full() -> list[Face]:
        return await one_pass(settings.full_side, upscale, size)

    if long_side <= settings.coarse_side:  # the coarse letterbox is the frame itself: the full pass, as cheap
        return await full()
    coarse = await one_pass(settings.coarse_side)  # in the pixels of ``rgb``
    if needs_full_pass(coarse, long_side, settings.coarse_side):
        return await full()
    side = settings.refine_side
    crops = (
        await asyncio.to_thread(lambda: [crop_around(rgb, face.box, side, settings.refine_margin) for face in coarse])
        if side
        else []
    )
    # a crop holding fewer face pixels than the coarse letterbox did would only blur the landmarks: keep those faces
    coarse_step = long_side / settings.coarse_side
    finer = [index for index, crop in enumerate(crops) if crop.side / side < coarse_step]
    faces = list(coarse)
    if finer:
        blob = np.stack([crops[index].pixels for index in finer]).transpose(0, 3, 1, 2)
        with timings.stage("detect_infer"):
            outputs = await backend.infer(DETECTOR, {tensors.input: np.ascontiguousarray(blob)})
        heads = tensors.heads(outputs)
        parts = (heads.heatmap, heads.scale, heads.offset, heads.landmarks)
        for row, index in enumerate(finer):
            one = Heads(*(part[row : row + 1] for part in parts))
            found = refined_face(one, crops[index], coarse[index], side, settings)
            if found is None:
                return await full()
            faces[index] = found
    return [in_frame(face, upscale, size) for face in faces]
