"""ExpressionNeutrality from the emotion classifier (``models/emotion``: 7 classes on a 64x64 grey ArcFace crop).

OFIQ combines two CNNs' features in an AdaBoost classifier trained on its own data; we have one classifier, so the raw
value is its probability of the ``neutral`` class (the class list comes from the card's ``parameters``) and the
component is 100 times that probability. Not fitted to any data here; reports/measures.md has how it separates
Yale's labelled expressions.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from service.measures.base import FaceView, MeasureResult, NetworkMeasure, component

NETWORK = "emotion"
NEUTRAL = "neutral"


class ExpressionNeutrality(NetworkMeasure):
    name = "ExpressionNeutrality"
    raw_scale = "the emotion classifier's probability of 'neutral', 0..1"
    mapping = "100 x probability (ours; OFIQ's AdaBoost over two CNNs is not available)"
    reason = "expression_not_neutral"
    network = NETWORK

    def _read(self, view: FaceView, outputs: Mapping[str, np.ndarray]) -> MeasureResult:
        classes = [str(name) for name in outputs["classes"]]
        probabilities = np.asarray(outputs["probabilities"], dtype=np.float64).reshape(-1)
        raw = float(probabilities[classes.index(NEUTRAL)])
        return MeasureResult(raw, component(100.0 * raw))
