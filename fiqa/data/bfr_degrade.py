"""The seed's blind-face-restoration degradation, I_LQ = JPEG_q((I_HQ ⊗ k)↓r + n_σ), at the training size.

Scales (the seed works at 256x256; we train at 64x64, so kernel sizes are a quarter of the usual BFR ones):
- k: Gaussian (sigma in [0.2, 2.5) px) or motion blur (a line of length [3, 9] px at a random angle), 50/50;
- r: down-scaling factor in [0.4, 0.9) (area interpolation), the image is brought back to full size (bicubic)
  after JPEG so the networks see a fixed size;
- n_σ: Gaussian noise; the seed's σ in [50, 250) is read as tenths of a grey level on the 0..255 scale, i.e. a
  standard deviation of 5..25 grey levels (σ = 50..250 grey levels would leave no face at all);
- q: JPEG quality in [5, 50) (OpenCV's encoder).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SIGMA_SCALE = 0.1  # seed's σ units -> grey levels on 0..255


@dataclass(frozen=True)
class Degradation:
    """One draw of the degradation parameters."""

    kernel: np.ndarray  # normalised blur kernel
    scale: float  # r
    noise_sigma: float  # seed units (grey levels = SIGMA_SCALE * noise_sigma)
    quality: int  # JPEG q


def gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, int(np.ceil(3 * sigma)))
    axis = np.arange(-radius, radius + 1, dtype=np.float64)
    line = np.exp(-0.5 * (axis / sigma) ** 2)
    kernel = np.outer(line, line)
    return (kernel / kernel.sum()).astype(np.float32)


def motion_kernel(length: int, angle_deg: float) -> np.ndarray:
    """A straight motion-blur streak of ``length`` pixels through the centre at ``angle_deg``."""
    size = length if length % 2 else length + 1
    kernel = np.zeros((size, size), dtype=np.float32)
    centre = (size - 1) / 2
    dx, dy = np.cos(np.deg2rad(angle_deg)), np.sin(np.deg2rad(angle_deg))
    for t in np.linspace(-(length - 1) / 2, (length - 1) / 2, 4 * length):
        kernel[round(centre + t * dy), round(centre + t * dx)] = 1.0
    return kernel / kernel.sum()


def sample(rng: np.random.Generator) -> Degradation:
    """Draw k, r, σ and q from the seed's ranges (at our scale)."""
    if rng.random() < 0.5:
        kernel = gaussian_kernel(float(rng.uniform(0.2, 2.5)))
    else:
        kernel = motion_kernel(int(rng.integers(3, 10)), float(rng.uniform(0, 180)))
    return Degradation(
        kernel=kernel,
        scale=float(rng.uniform(0.4, 0.9)),
        noise_sigma=float(rng.uniform(50, 250)),
        quality=int(rng.integers(5, 50)),
    )


def apply(hq: np.ndarray, params: Degradation, rng: np.random.Generator) -> np.ndarray:
    """Degrade one RGB uint8 image (H, W, 3); the result has the same size."""
    height, width = hq.shape[:2]
    blurred = cv2.filter2D(hq.astype(np.float32), -1, params.kernel, borderType=cv2.BORDER_REFLECT)
    small_size = (max(4, round(width * params.scale)), max(4, round(height * params.scale)))
    small = cv2.resize(blurred, small_size, interpolation=cv2.INTER_AREA)
    small = small + rng.normal(0.0, SIGMA_SCALE * params.noise_sigma, small.shape).astype(np.float32)
    small = np.clip(np.rint(small), 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", small[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, params.quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1]
    return cv2.resize(decoded, (width, height), interpolation=cv2.INTER_CUBIC)


def degrade(hq: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A fresh random degradation of one image."""
    return apply(hq, sample(rng), rng)
