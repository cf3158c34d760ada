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

    @property
    def assessable(self) -> bool:
        """Whether the crop shows any of the face: false only for degenerate landmarks (no finite, invertible
        transform) or a crop lying wholly outside the frame. A partly padded crop is scored for what it shows;
        how much is padding is a fact the decision reports, not a reason to withhold the score."""
        return bool(np.isfinite(self.transform).all()) and self.out_of_frame < 1.0


def align(rgb: np.ndarray, landmarks: np.ndarray, size: int = 112) -> AlignedFace:
    """Warp the face so its landmarks land on the ArcFace template scaled to ``size``."""
    points = np.asarray(landmarks, dtype=np.float32)
    if not np.isfinite(points).all() or np.ptp(points, axis=0).max() < 1e-3:
        # No similarity transform is defined by non-finite or coincident points: an empty, unassessable crop.
        empty = np.zeros((size, size, 3), dtype=np.uint8)
        return AlignedFace(crop=empty, transform=np.full((2, 3), np.nan), out_of_frame=1.0)
    crop, transform = face_align.norm_crop2(rgb, points, image_size=size)
    return AlignedFace(crop=crop, transform=transform, out_of_frame=_out_of_frame(transform, size, rgb.shape))


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
