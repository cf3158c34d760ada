"""Frame + 5 landmarks -> aligned crops on the insightface ArcFace template."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from insightface.utils import face_align

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


def align(rgb: np.ndarray, landmarks: np.ndarray, size: int = 112) -> AlignedFace:
    """Warp the face so its landmarks land on the ArcFace template scaled to ``size``."""
    crop, transform = face_align.norm_crop2(rgb, np.asarray(landmarks, dtype=np.float32), image_size=size)
    return AlignedFace(crop=crop, transform=transform, out_of_frame=_out_of_frame(transform, size, rgb.shape))


def _out_of_frame(transform: np.ndarray, size: int, shape: tuple[int, ...]) -> float:
    inverse = np.linalg.inv(np.vstack([transform, [0.0, 0.0, 1.0]]))[:2]
    points = _GRID * (size - 1)
    source = points @ inverse[:, :2].T + inverse[:, 2]
    height, width = shape[:2]
    inside = (source[:, 0] >= 0) & (source[:, 0] <= width - 1) & (source[:, 1] >= 0) & (source[:, 1] <= height - 1)
    return float(1.0 - inside.mean())
