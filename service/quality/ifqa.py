"""IFQA per-pixel quality maps: the U-Net discriminator scores every pixel of the aligned face.

The crop is the gateway's 112x112 ArcFace crop (no extra margin, as in training), area-resized to the
network's input size from the card. Raw score = mean of the map over the whole crop (IFQA Eq. 8), so a
perfect face scores about the share of the crop its face oval covers, not 1.
"""

from __future__ import annotations

import numpy as np

from service.quality.base import OwnNetworkMethod, Tensors


class IFQAMap(OwnNetworkMethod):
    """Card ``method: ifqa_map``: one network, map output (N, 1, S, S) in [0, 1] (``role: map`` when it has
    several outputs), higher is better."""

    method = "ifqa_map"
    output_role = "map"

    def maps(self, outputs: dict[str, Tensors], faces: int) -> np.ndarray:
        """(faces, S, S) float32 per-pixel quality in [0, 1]."""
        values = np.asarray(outputs[self.card.name][self.output], dtype=np.float32)
        return values.reshape(faces, *values.shape[-2:])

    def postprocess(self, outputs: dict[str, Tensors], faces: int) -> np.ndarray:
        return self.maps(outputs, faces).mean(axis=(1, 2), dtype=np.float64)
