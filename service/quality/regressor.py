"""Single-pass regression quality: one network maps the aligned face to its raw quality (DifFIQA(R), MR-FIQA, or the
quality head of a network with several outputs, e.g. a CR-FIQA-style export of embedding and quality).

Everything model-specific — input normalisation, tensor names, raw -> 0..100 mapping — comes from the card
(``method: regression``), so a new trained regressor is served by adding its folder under ``models/``.
"""

from __future__ import annotations

import numpy as np

from service.quality.base import OwnNetworkMethod, Tensors


class Regression(OwnNetworkMethod):
    """One forward pass per face; the first value of the card's quality output is the raw score (higher is better).

    A network with several outputs names its quality output by ``role: quality`` in the card; the others are
    computed and ignored."""

    method = "regression"
    output_role = "quality"

    def postprocess(self, outputs: dict[str, Tensors], faces: int) -> np.ndarray:
        raw = outputs[self.card.name][self.output].astype(np.float64).reshape(faces, -1)
        return raw[:, 0]
