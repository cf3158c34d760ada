"""RGB frame -> faces (box, 5 ArcFace-order landmarks, score) with CenterFace.

The frame is shrunk so its long side is at most ``det_max_side`` and letterboxed (padded bottom/right)
to multiples of 32, the network's stride; post-processing is vectorised over heat-map cells.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

import cv2
import numpy as np

from service.backends.base import Backend
from service.registry import ModelCard
from service.timing import Timings

DETECTOR = "centerface"
STRIDE = 32


@dataclass(frozen=True)
class Face:
    """One detection in frame pixel coordinates."""

    box: np.ndarray  # (4,) x1, y1, x2, y2
    landmarks: np.ndarray  # (5, 2) x, y: left eye, right eye, nose, left mouth, right mouth
    score: float

    @property
    def inter_eye_distance(self) -> float:
        return float(np.linalg.norm(self.landmarks[1] - self.landmarks[0]))

    @property
    def area(self) -> float:
        return float((self.box[2] - self.box[0]) * (self.box[3] - self.box[1]))


@dataclass(frozen=True)
class Heads:
    """CenterFace's four output maps for one frame (stride 4): face-centre heat map, log box size, centre offset and
    landmark offsets."""

    heatmap: np.ndarray  # (1, 1, h, w)
    scale: np.ndarray  # (1, 2, h, w)
    offset: np.ndarray  # (1, 2, h, w)
    landmarks: np.ndarray  # (1, 10, h, w)


@dataclass(frozen=True)
class DetectorTensors:
    """The detector's tensor names, read from its card: one input, and each output found by its ``role``."""

    input: str
    heatmap: str
    scale: str
    offset: str
    landmarks: str

    @classmethod
    def from_card(cls, card: ModelCard) -> DetectorTensors:
        """Raises ``CardError`` when the card does not name an output for each role."""
        roles = ("heatmap", "scale", "offset", "landmarks")
        return cls(card.single_input(), *(card.output(role) for role in roles))

    def heads(self, outputs: dict[str, np.ndarray]) -> Heads:
        return Heads(outputs[self.heatmap], outputs[self.scale], outputs[self.offset], outputs[self.landmarks])


@dataclass(frozen=True)
class Letterbox:
    """The network input for one frame and the factor that maps its coordinates back."""

    blob: np.ndarray  # 1x3xHxW float32, RGB 0..255
    scale: float


def letterbox(rgb: np.ndarray, max_side: int) -> Letterbox:
    """Shrink (never enlarge) to ``max_side`` and pad to multiples of the stride."""
    height, width = rgb.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = rgb if scale == 1.0 else cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)
    pad_h, pad_w = -new_h % STRIDE, -new_w % STRIDE
    canvas = np.zeros((new_h + pad_h, new_w + pad_w, 3), dtype=np.float32)
    canvas[:new_h, :new_w] = resized
    return Letterbox(blob=canvas.transpose(2, 0, 1)[None], scale=scale)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, best first."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order.size:
        best = order[0]
        keep.append(int(best))
        rest = order[1:]
        inter_w = np.clip(
            np.minimum(boxes[best, 2], boxes[rest, 2]) - np.maximum(boxes[best, 0], boxes[rest, 0]), 0, None
        )
        inter_h = np.clip(
            np.minimum(boxes[best, 3], boxes[rest, 3]) - np.maximum(boxes[best, 1], boxes[rest, 1]), 0, None
        )
        inter = inter_w * inter_h
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[iou < iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def decode(
    heads: Heads,
    frame: Letterbox,
    frame_size: tuple[int, int],
    threshold: float,
    iou_threshold: float,
) -> list[Face]:
    """Heat-map peaks -> boxes and landmarks in frame pixels (``frame_size`` is width, height)."""
    heat = heads.heatmap[0, 0]
    rows, cols = np.nonzero(heat > threshold)
    if rows.size == 0:
        return []
    height_in, width_in = frame.blob.shape[2:]
    box_h = np.exp(heads.scale[0, 0, rows, cols]) * 4
    box_w = np.exp(heads.scale[0, 1, rows, cols]) * 4
    x1 = np.clip((cols + heads.offset[0, 1, rows, cols] + 0.5) * 4 - box_w / 2, 0, width_in)
    y1 = np.clip((rows + heads.offset[0, 0, rows, cols] + 0.5) * 4 - box_h / 2, 0, height_in)
    boxes = np.stack([x1, y1, np.minimum(x1 + box_w, width_in), np.minimum(y1 + box_h, height_in)], axis=1)
    marks = heads.landmarks[0][:, rows, cols].T.reshape(-1, 5, 2)  # (n, 5, [dy, dx])
    landmarks = np.stack(
        [marks[:, :, 1] * box_w[:, None] + x1[:, None], marks[:, :, 0] * box_h[:, None] + y1[:, None]], axis=2
    )
    scores = heat[rows, cols]
    keep = nms(boxes, scores, iou_threshold)
    width, height = frame_size
    limits = np.array([width, height, width, height], dtype=np.float64)
    faces = []
    for index in keep:
        box = np.clip(boxes[index] / frame.scale, 0, limits)
        faces.append(Face(box=box, landmarks=landmarks[index] / frame.scale, score=float(scores[index])))
    return faces


async def detect(
    backend: Backend,
    tensors: DetectorTensors,
    rgb: np.ndarray,
    timings: Timings,
    *,
    max_side: int,
    threshold: float,
    iou_threshold: float,
    upscale: int = 1,
    frame_size: tuple[int, int] | None = None,
) -> list[Face]:
    """Run the detector on one frame; resizing runs on a worker thread, off the event loop.

    ``rgb`` may be a reduced decode of the frame: ``upscale`` frame pixels per ``rgb`` pixel, and
    ``frame_size`` (width, height) the frame's own size, so faces come back in frame coordinates.
    """
    frame = await asyncio.to_thread(letterbox, rgb, max_side)
    with timings.stage("detect_infer"):
        outputs = await backend.infer(DETECTOR, {tensors.input: frame.blob})
    size = frame_size or (rgb.shape[1] * upscale, rgb.shape[0] * upscale)
    return decode(tensors.heads(outputs), replace(frame, scale=frame.scale / upscale), size, threshold, iou_threshold)
