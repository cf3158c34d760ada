"""What a quality method is: crops in, per-network inputs out, network outputs in, raw scores out."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from service.registry import CardError, ModelCard, Preprocess, Registry, ScoreMapping

Tensors = dict[str, np.ndarray]


class NoParameters(BaseModel):
    """A method whose card takes no ``parameters``."""

    model_config = ConfigDict(extra="forbid")


class QualityMethod:
    """One quality method, built from its card; the pipeline knows nothing else about it.

    Subclasses name the card ``method`` they serve and their ``Parameters`` (read from the card's ``parameters``
    block, which they must match exactly), and implement ``prepare`` and ``postprocess``. A card this gateway
    cannot serve raises ``CardError`` here, at start-up, never at the first request.
    """

    method: ClassVar[str]
    Parameters: ClassVar[type[BaseModel]] = NoParameters

    def __init__(self, card: ModelCard, registry: Registry, **overrides: Any):
        if card.score_mapping is None:
            raise CardError(f"{card.name}: a quality card needs a score_mapping")
        try:
            self.params = self.Parameters.model_validate({**card.parameters, **overrides})
        except ValidationError as error:
            raise CardError(f"{card.name}: parameters of method {self.method!r}: {error}") from None
        self.card = card
        self.mapping: ScoreMapping = card.score_mapping

    @property
    def name(self) -> str:
        return self.card.name

    def prepare(self, crops: np.ndarray) -> dict[str, Tensors]:
        """Aligned RGB uint8 crops (N, S, S, 3) -> inputs per network name."""
        raise NotImplementedError

    def postprocess(self, outputs: dict[str, Tensors], faces: int) -> np.ndarray:
        """Network outputs -> one raw score per face (higher is better)."""
        raise NotImplementedError

    def to_score(self, raw: np.ndarray) -> np.ndarray:
        """Raw -> 0..100, as the card's score mapping states."""
        return self.mapping.to_score(raw)

    def rows_per_face(self) -> dict[str, int]:
        """Rows one face adds to each network's inference queue (what ``prepare`` makes per crop)."""
        return dict.fromkeys(self.card.networks, 1)


class MapMethod(Protocol):
    """A quality method that also scores every pixel (e.g. IFQA)."""

    def maps(self, outputs: dict[str, Tensors], faces: int) -> np.ndarray:
        """Network outputs -> (faces, H, W) per-pixel quality in 0..1 (higher is better)."""


class OwnNetworkMethod(QualityMethod):
    """A method that runs its card's own network file: its one input, prepared as the card's ``preprocess`` says,
    and the output with ``output_role`` (a network with a single output needs no role in its card)."""

    output_role: ClassVar[str]

    def __init__(self, card: ModelCard, registry: Registry, **overrides: Any):
        super().__init__(card, registry, **overrides)
        if card.file is None or card.preprocess is None:
            raise CardError(f"{card.name}: method {self.method!r} needs a file and a preprocess block")
        self.preprocess = card.preprocess
        self.input = card.single_input()
        self.output = card.output(self.output_role)

    def prepare(self, crops: np.ndarray) -> dict[str, Tensors]:
        return {self.card.name: {self.input: network_input(crops, self.preprocess)}}


def produces_maps(method: QualityMethod) -> bool:
    return callable(getattr(method, "maps", None))


# ITU-R BT.601 luma (MATLAB's rgb2gray): how the human library greys faces for its expression network.
LUMA = np.array([0.2989, 0.5870, 0.1140], dtype=np.float32)


def resize_crops(crops: np.ndarray, size: int) -> np.ndarray:
    """Aligned uint8 crops (N, S, S, 3) -> (N, size, size, 3): area interpolation to shrink (as IFQA trains),
    bilinear to enlarge (area would repeat pixels); the same array when already that size."""
    if crops.shape[1] == size and crops.shape[2] == size:
        return crops
    interpolation = cv2.INTER_AREA if size < crops.shape[1] else cv2.INTER_LINEAR
    return np.stack([cv2.resize(crop, (size, size), interpolation=interpolation) for crop in crops])


def network_input(pixels: np.ndarray, preprocess: Preprocess) -> np.ndarray:
    """RGB pixel values (N, H, W, 3) on 0..255 -> the network's normalised float32 tensor, NCHW or NHWC (one
    channel for ``GREY``).

    Crops of another size than the card's ``crop_size`` are resized to it first (the gateway aligns at 112;
    some networks read 64 or 224 pixels)."""
    if pixels.shape[1:3] != (preprocess.crop_size, preprocess.crop_size):
        pixels = resize_crops(np.asarray(pixels), preprocess.crop_size)
    if preprocess.channel_order == "BGR":
        pixels = pixels[..., ::-1]
    elif preprocess.channel_order == "GREY":
        pixels = (pixels.astype(np.float32) @ LUMA)[..., None]
    # One cast-and-transpose copy, then in place: the same float32 operations, without three temporaries.
    if preprocess.layout == "NHWC":
        out = pixels.astype(np.float32)  # a copy even when float32 already: the in-place steps must not write back
    else:
        out = np.empty((pixels.shape[0], pixels.shape[3], pixels.shape[1], pixels.shape[2]), dtype=np.float32)
        out[...] = pixels.transpose(0, 3, 1, 2)
    mean = np.asarray(preprocess.mean, dtype=np.float32)
    out -= mean.reshape(-1, 1, 1) if mean.ndim and preprocess.layout == "NCHW" else mean
    out *= np.float32(preprocess.scale)
    return out
