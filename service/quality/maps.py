"""Per-pixel quality maps -> what ``return_maps`` sends: a greyscale PNG, a heat-map overlay, or numbers.

Every map carries the 2x3 affine transform from the original frame to its own pixel grid, so a client can
paste it over the photo (warp it back with the inverse).
"""

from __future__ import annotations

import base64

import cv2
import numpy as np

from service.schemas import MapFormat, QualityMap

OVERLAY_ALPHA = 0.5  # share of the heat map in the overlay


def _png(image: np.ndarray) -> str:
    ok, encoded = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return base64.b64encode(encoded.tobytes()).decode("ascii")


def grid_transform(transform: np.ndarray, crop_size: int, map_size: int) -> np.ndarray:
    """Frame -> crop transform turned into frame -> map pixels for a map of ``map_size`` over the crop
    (pixel centres: x_map = (x_crop + 0.5) * map_size / crop_size - 0.5, as cv2's area/linear resizing)."""
    ratio = map_size / crop_size
    out = np.asarray(transform, dtype=np.float64) * ratio
    out[:, 2] += 0.5 * ratio - 0.5
    return out


def render(values: np.ndarray, crop: np.ndarray, transform: np.ndarray, fmt: MapFormat) -> QualityMap:
    """One face's map (h, w) in [0, 1] over its aligned RGB crop (S, S, 3) with frame -> crop ``transform``.

    ``png`` and ``overlay`` are at crop size (the map is resized bilinearly) and use ``transform`` as is;
    ``array`` keeps the network's own resolution (fewer numbers) with the transform rescaled to it.
    Overlay colours: OpenCV's INFERNO map of the quality (black/purple = poor, yellow = good), blended 50/50
    with the crop, the same 'brighter is better' reading as the greyscale PNG.
    """
    values = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    size = crop.shape[0]
    if fmt == "array":
        height, width = values.shape
        return QualityMap(
            format="array",
            width=width,
            height=height,
            transform=grid_transform(transform, size, width).round(6).tolist(),
            values=values.astype(np.float64).round(3).tolist(),  # 8-bit PNG precision; keeps JSON ~30 KB
        )
    grey = np.rint(cv2.resize(values, (size, size), interpolation=cv2.INTER_LINEAR) * 255).astype(np.uint8)
    if fmt == "png":
        data = _png(grey)
    elif fmt == "overlay":
        heat = cv2.applyColorMap(grey, cv2.COLORMAP_INFERNO)  # BGR
        blended = cv2.addWeighted(crop[..., ::-1], 1.0 - OVERLAY_ALPHA, heat, OVERLAY_ALPHA, 0.0)
        data = _png(blended)
    else:
        raise ValueError(f"no map rendering for format {fmt!r}")
    return QualityMap(format=fmt, width=size, height=size, transform=np.asarray(transform).round(6).tolist(), data=data)
