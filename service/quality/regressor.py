"""Single-pass regression quality: one network maps the aligned face to its raw quality (DifFIQA(R), MR-FIQA).

Everything model-specific — input normalisation, tensor names, raw -> 0..100 mapping — comes from the card
(``method: regression``), so a new trained regressor is served by adding its folder under ``models/``.
"""

from __future__ import annotations

import numpy as np

from service.quality.base import Tensors, network_input
from service.registry import ModelCard


class Regression:
    """One forward pass per face; the network's single output value is the raw score (higher is better)."""

    def __init__(self, card: ModelCard):
        if card.file is None or card.preprocess is None or len(card.inputs) != 1 or len(card.outputs) != 1:
            raise ValueError(f"{card.name}: a regression card needs a file, a preprocess block, one input, one output")
        if card.score_mapping is None:
            raise ValueError(f"{card.name}: a regression card needs a score_mapping")
        self.card = card

    @property
    def name(self) -> str:
        return self.card.name

    def prepare(self, crops: np.ndarray) -> dict[str, Tensors]:
        assert self.card.preprocess is not None
        return {self.card.name: {self.card.inputs[0].name: network_input(crops, self.card.preprocess)}}

    def postprocess(self, outputs: dict[str, Tensors], faces: int) -> np.ndarray:
        raw = outputs[self.card.name][self.card.outputs[0].name].astype(np.float64).reshape(faces, -1)
        return raw[:, 0]

    def to_score(self, raw: np.ndarray) -> np.ndarray:
        assert self.card.score_mapping is not None
        return self.card.score_mapping.to_score(raw)
