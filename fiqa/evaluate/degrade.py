"""Synthetic capture degradations (applied to the whole frame, before detection, as a camera would cause them).

Each kind has strengths 1..3; every degradation is deterministic given its seed, so a degraded dataset is the
same on every run and its cache stays valid.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from fiqa.evaluate.datasets import Dataset, Sample, encode_png, from_samples

# Per kind, the parameter at strengths 1, 2, 3 (relative to the frame, so they mean the same on any image size).
LEVELS: dict[str, tuple[float, float, float]] = {
    "blur": (1.5, 3.0, 6.0),  # Gaussian sigma in pixels per 100 px of the short side
    "downscale": (0.35, 0.2, 0.1),  # scale factor, then back up (bilinear)
    "noise": (10.0, 25.0, 50.0),  # Gaussian noise sigma on 0..255
    "jpeg": (30.0, 12.0, 4.0),  # JPEG quality
    "occlusion": (0.15, 0.3, 0.45),  # side of a grey square over the centre, as a share of the short side
    "darken": (0.45, 0.25, 0.1),  # gamma-like: pixels * factor, then noise sigma 3 (low light)
}
KINDS = tuple(LEVELS)


@dataclass(frozen=True)
class Degradation:
    kind: str
    strength: int  # 1..3

    @property
    def tag(self) -> str:
        return f"{self.kind}{self.strength}"


def apply(rgb: np.ndarray, degradation: Degradation, seed: int = 0) -> np.ndarray:
    """Degraded copy of an RGB uint8 frame."""
    value = LEVELS[degradation.kind][degradation.strength - 1]
    height, width = rgb.shape[:2]
    short = min(height, width)
    rng = np.random.default_rng([seed, zlib.crc32(degradation.tag.encode()), zlib.crc32(rgb.tobytes())])
    kind = degradation.kind
    if kind == "blur":
        return cv2.GaussianBlur(rgb, (0, 0), sigmaX=value * short / 100.0)
    if kind == "downscale":
        small = cv2.resize(rgb, (max(1, round(width * value)), max(1, round(height * value))), cv2.INTER_AREA)
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    if kind == "noise":
        return np.clip(rgb + rng.normal(0.0, value, rgb.shape), 0, 255).astype(np.uint8)
    if kind == "jpeg":
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, format="JPEG", quality=int(value))
        return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    if kind == "occlusion":
        side = round(value * short)
        # Centre of the face region is unknown before detection; the frame centre moved at random by 10 %.
        cy = height // 2 + int(rng.integers(-short // 10, short // 10 + 1))
        cx = width // 2 + int(rng.integers(-short // 10, short // 10 + 1))
        out = rgb.copy()
        out[max(0, cy - side // 2) : cy + side // 2, max(0, cx - side // 2) : cx + side // 2] = 128
        return out
    if kind == "darken":
        return np.clip(rgb * value + rng.normal(0.0, 3.0, rgb.shape), 0, 255).astype(np.uint8)
    raise ValueError(f"unknown degradation {kind!r}")


def _degraded_loader(sample: Sample, degradation: Degradation, seed: int):
    def load() -> bytes:
        rgb = np.asarray(Image.open(io.BytesIO(sample.load())).convert("RGB"))
        return encode_png(apply(rgb, degradation, seed))

    return load


def degraded_dataset(source: Dataset, copies: int = 2, seed: int = 0, name: str | None = None) -> Dataset:
    """The source samples as captured plus ``copies`` degraded versions of each (kind and strength drawn at
    random, seeded), compared all against all except with their own source image: a set where every quality
    factor is represented."""
    rng = np.random.default_rng(seed)
    samples: list[Sample] = []
    for sample in source.samples:
        samples.append(sample)
        kinds = rng.choice(len(KINDS), size=copies, replace=copies > len(KINDS))
        for kind in kinds:
            degradation = Degradation(KINDS[int(kind)], int(rng.integers(1, 4)))
            samples.append(
                Sample(f"{sample.key}#{degradation.tag}", sample.identity, _degraded_loader(sample, degradation, seed))
            )
    data = from_samples(
        name or f"{source.name}-degraded",
        samples,
        protocol="all-vs-all of images and degraded copies, less each image vs its own copies",
    )
    # An image compared with its own degraded copy is a near-duplicate, not a comparison of two captures.
    origin = np.asarray([s.key.split("#", 1)[0] for s in samples])
    keep = origin[data.first] != origin[data.second]
    data.first, data.second, data.mated = data.first[keep], data.second[keep], data.mated[keep]
    return data


def degradation_of(key: str) -> str:
    """The degradation tag in a sample key (``original`` for captured images)."""
    return key.rsplit("#", 1)[1] if "#" in key else "original"
