"""What a quality method is: crops in, per-network inputs out, network outputs in, raw scores out."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from service.registry import ModelCard, Preprocess

Tensors = dict[str, np.ndarray]


class QualityMethod(Protocol):
    """One quality method; the pipeline knows nothing else about it."""

    card: ModelCard

    @property
    def name(self) -> str: ...

    def prepare(self, crops: np.ndarray) -> dict[str, Tensors]:
        """Aligned RGB uint8 crops (N, S, S, 3) -> inputs per network name."""

    def postprocess(self, outputs: dict[str, Tensors], faces: int) -> np.ndarray:
        """Network outputs -> one raw score per face (higher is better)."""

    def to_score(self, raw: np.ndarray) -> np.ndarray:
        """Raw -> 0..100, as the card's score mapping states."""


class MapMethod(QualityMethod, Protocol):
    """A quality method that also scores every pixel (e.g. IFQA)."""

    def maps(self, outputs: dict[str, Tensors], faces: int) -> np.ndarray:
        """Network outputs -> (faces, H, W) per-pixel quality in 0..1 (higher is better)."""


def produces_maps(method: QualityMethod) -> bool:
    return callable(getattr(method, "maps", None))


def network_input(pixels: np.ndarray, preprocess: Preprocess) -> np.ndarray:
    """RGB pixel values (N, H, W, 3) on 0..255 -> the network's normalised NCHW float32 tensor."""
    if preprocess.channel_order == "BGR":
        pixels = pixels[..., ::-1]
    # One cast-and-transpose copy, then in place: the same float32 operations, without three temporaries.
    out = np.empty((pixels.shape[0], pixels.shape[3], pixels.shape[1], pixels.shape[2]), dtype=np.float32)
    out[...] = pixels.transpose(0, 3, 1, 2)
    out -= np.float32(preprocess.mean)
    out *= np.float32(preprocess.scale)
    return out
