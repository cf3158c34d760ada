"""Frame + 5 landmarks -> aligned crops on the insightface ArcFace template."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
from insightface.utils import face_align

from service.registry import Preprocess

# insightface 2.1 calls a scikit-image API deprecated in 0.26; the result is the same, the warning is noise.
warnings.filterwarnings("ignore", message="`estimate` is deprecated", category=FutureWarning)

# A coarse grid over the crop: enough to estimate how much of the crop lies outside the frame.
_GRID = np.stack(np.meshgrid(np.linspace(0, 1, 16), np.linspace(0, 1, 16)), axis=-1).reshape(-1, 2)


@dataclass(frozen=True)
class AlignedFace:
    """An aligned RGB crop and the affine frame -> crop transform that produced it."""

    crop: np.ndarray  # SxSx3 uint8 RGB
    transform: np.ndarray  # 2x3, maps frame (x, y, 1) to crop (x, y)
    out_of_frame: float  # share of the crop that came from outside the frame (black padding)

    @property
    def assessable(self) -> bool:
        """Whether the crop shows any of the face: false only for degenerate landmarks (no finite, invertible
        transform) or a crop lying wholly outside the frame. A partly padded crop is scored for what it shows;
        how much is padding is a fact the decision reports, not a reason to withhold the score."""
        return bool(np.isfinite(self.transform).all()) and self.out_of_frame < 1.0


def align(rgb: np.ndarray, landmarks: np.ndarray, size: int = 112, *, scale: int = 1) -> AlignedFace:
    """Warp the face so its landmarks land on the ArcFace template scaled to ``size``. ``rgb`` may hold the frame
    decoded at 1/``scale`` (``service.decode_scale``): ``landmarks`` and the transform stay in frame pixels."""
    points = np.asarray(landmarks, dtype=np.float32) / scale
    if not _defines_transform(points):  # an empty, unassessable crop
        empty = np.zeros((size, size, 3), dtype=np.uint8)
        return AlignedFace(crop=empty, transform=np.full((2, 3), np.nan), out_of_frame=1.0)
    crop, transform = face_align.norm_crop2(rgb, points, image_size=size)
    out_of_frame = _out_of_frame(transform, size, rgb.shape)
    return AlignedFace(crop=crop, transform=_from_frame_pixels(transform, scale), out_of_frame=out_of_frame)


def _defines_transform(points: np.ndarray) -> bool:
    """Non-finite or coincident points define no similarity transform."""
    return bool(np.isfinite(points).all() and np.ptp(points, axis=0).max() >= 1e-3)


def _out_of_frame(transform: np.ndarray, size: int, shape: tuple[int, ...]) -> float:
    return float(1.0 - inside_frame(transform, _GRID * (size - 1), shape).mean())


def inside_frame(transform: np.ndarray, points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Which crop ``points`` (N, 2) came from inside a frame of ``shape`` under the frame -> crop ``transform``
    (all false for a degenerate transform)."""
    matrix = np.vstack([transform, [0.0, 0.0, 1.0]])
    if not np.isfinite(matrix).all() or abs(np.linalg.det(matrix)) < 1e-12:
        return np.zeros(len(points), dtype=bool)
    inverse = np.linalg.inv(matrix)[:2]
    source = points @ inverse[:, :2].T + inverse[:, 2]
    height, width = shape[:2]
    return (source[:, 0] >= 0) & (source[:, 0] <= width - 1) & (source[:, 1] >= 0) & (source[:, 1] <= height - 1)


def crop_inside_frame(transform: np.ndarray, size: int, shape: tuple[int, ...]) -> np.ndarray:
    """Which pixels of a ``size`` x ``size`` crop came from inside a frame of ``shape`` under the frame -> crop
    ``transform`` (size x size bool). The crop is convex: when its four corners lie inside, all of it does, and the
    per-pixel test is skipped."""
    last = size - 1
    corners = np.array([[0, 0], [last, 0], [0, last], [last, last]], dtype=np.float64)
    if inside_frame(transform, corners, shape).all():
        return np.ones((size, size), dtype=bool)
    return inside_frame(transform, _pixels(size), shape).reshape(size, size)


@cache
def _pixels(size: int) -> np.ndarray:
    return np.stack(np.meshgrid(np.arange(size), np.arange(size)), axis=-1).reshape(-1, 2).astype(np.float64)


# The ArcFace template (112 pixels) the wider crops are cut from: centre, side and eye centres.
_TEMPLATE_SIDE = 112.0
_TEMPLATE_EYES = face_align.arcface_dst[:2].astype(np.float64)
_TEMPLATE_EYE_DISTANCE = float(np.linalg.norm(_TEMPLATE_EYES[1] - _TEMPLATE_EYES[0]))


def network_crops(
    rgb: np.ndarray,
    landmarks: np.ndarray,
    preprocess: Preprocess,
    aligned: AlignedFace | None = None,
    *,
    scale: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """The crops a card's ``preprocess`` asks for, (K, S, S, 3) uint8 RGB, and each one's 2x3 frame -> crop transform
    (K = 2 for ``eyes``: the image-left eye, then the image-right eye; 1 otherwise). Pixels outside the frame are
    black, as in the ArcFace crop. The ArcFace crop stays at 112 (``network_input`` resizes it, as for every
    quality network); the others are cut at ``crop_size`` directly, from the frame's own pixels. ``aligned``: the
    face's ArcFace crop of these landmarks when it is already cut (its crop and transform are then reused).
    ``scale`` as for ``align``."""
    size = preprocess.crop_size
    if preprocess.alignment == "frame":
        height, width = rgb.shape[:2]
        shrink = size < min(height, width)
        crop = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        to_crop = np.array([[size / width, 0.0, 0.0], [0.0, size / height, 0.0]])
        return crop[None], _from_frame_pixels(to_crop, scale)[None]
    if preprocess.alignment == "arcface":
        aligned = aligned or align(rgb, landmarks, scale=scale)
        return aligned.crop[None], aligned.transform[None]
    if aligned is not None and np.isfinite(aligned.transform).all():
        # the crop's transform is in frame pixels; the crops here are cut from ``rgb``, at 1/scale
        to_template = np.hstack([aligned.transform[:, :2] * scale, aligned.transform[:, 2:]])
    else:
        points = np.asarray(landmarks, dtype=np.float32) / scale
        to_template = face_align.estimate_norm(points, image_size=int(_TEMPLATE_SIDE))
    if preprocess.alignment == "face_box":
        windows = [(np.full(2, _TEMPLATE_SIDE / 2), _TEMPLATE_SIDE * preprocess.crop_scale)]
    elif preprocess.alignment == "eyes":
        side = _TEMPLATE_EYE_DISTANCE * preprocess.crop_scale
        windows = [(eye, side) for eye in _TEMPLATE_EYES]
    else:
        raise ValueError(f"no crop for alignment {preprocess.alignment!r}")
    crops, transforms = [], []
    for centre, side in windows:
        transform = _then(to_template, size / side, size / 2 - centre * size / side)
        crops.append(cv2.warpAffine(rgb, transform, (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0))
        transforms.append(_from_frame_pixels(transform, scale))
    return np.stack(crops), np.stack(transforms)


def template_scale(landmarks: np.ndarray) -> float:
    """Frame pixels per pixel of the 112 px ArcFace template for this face: how much detail the frame holds for the
    crops cut from it (0 for landmarks that define no transform)."""
    points = np.asarray(landmarks, dtype=np.float32)
    if not _defines_transform(points):
        return 0.0
    to_template = face_align.estimate_norm(points, image_size=int(_TEMPLATE_SIDE))
    return float(1.0 / np.sqrt(abs(np.linalg.det(to_template[:, :2])))) if np.isfinite(to_template).all() else 0.0


def crop_magnification(preprocess: Preprocess) -> float:
    """Crop pixels per ArcFace-template pixel of the crop ``preprocess`` cuts from the frame (0 for crops that do
    not follow the face: the whole frame, the detector's own input)."""
    if preprocess.alignment == "arcface":
        return 1.0  # the 112 px crop itself; a network of another size gets it resized (``network_input``)
    if preprocess.alignment == "face_box":
        return preprocess.crop_size / (_TEMPLATE_SIDE * preprocess.crop_scale)
    if preprocess.alignment == "eyes":
        return preprocess.crop_size / (_TEMPLATE_EYE_DISTANCE * preprocess.crop_scale)
    return 0.0


def _from_frame_pixels(transform: np.ndarray, scale: int) -> np.ndarray:
    """A transform from the pixels of a frame decoded at 1/``scale`` made one from the frame's own pixels."""
    return np.hstack([transform[:, :2] / scale, transform[:, 2:]])


def _then(transform: np.ndarray, scale: float, offset: np.ndarray) -> np.ndarray:
    """``transform`` followed by x -> scale * x + offset."""
    return np.hstack([transform[:, :2] * scale, transform[:, 2:] * scale + offset[:, None]])
