"""IFQA per-pixel quality maps: the U-Net discriminator scores every pixel of the aligned face.

The crop is the gateway's 112x112 ArcFace crop (no extra margin, as in training), area-resized to the
network's input size from the card. Raw score = mean of the map over the whole crop (IFQA Eq. 8), so a
perfect face scores about the share of the crop its face oval covers, not 1.
"""

from __future__ import annotations

import numpy as np

from service.quality.base import Tensors, network_input
from service.registry import ModelCard


class IFQAMap:
    """Card ``method: ifqa_map``: one network, output (N, 1, S, S) in [0, 1], higher is better."""

    def __init__(self, card: ModelCard):
        if card.preprocess is None or not card.inputs or not card.outputs:
            raise ValueError(f"{card.name}: an ifqa_map card needs preprocess, inputs and outputs")
        self.card = card

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def size(self) -> int:
        assert self.card.preprocess is not None
        return self.card.preprocess.crop_size

    def prepare(self, crops: np.ndarray) -> dict[str, Tensors]:
        assert self.card.preprocess is not None
        tensor = network_input(crops, self.card.preprocess)  # area-resized to the card's crop_size
        return {self.card.name: {self.card.inputs[0].name: tensor}}

    def maps(self, outputs: dict[str, Tensors], faces: int) -> np.ndarray:
        """(faces, S, S) float32 per-pixel quality in [0, 1]."""
        values = np.asarray(outputs[self.card.name][self.card.outputs[0].name], dtype=np.float32)
        return values.reshape(faces, *values.shape[-2:])

    def postprocess(self, outputs: dict[str, Tensors], faces: int) -> np.ndarray:
        return self.maps(outputs, faces).mean(axis=(1, 2), dtype=np.float64)

    def to_score(self, raw: np.ndarray) -> np.ndarray:
        assert self.card.score_mapping is not None
        return self.card.score_mapping.to_score(raw)
