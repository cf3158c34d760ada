"""NaturalColour: is the skin's mean colour within the range of natural skin tones?

As ISO/IEC 29794-5 and OFIQ: the face region is converted to CIELAB; raw = the Euclidean distance of its mean
(a*, b*) from the natural range a* in [5, 25], b* in [5, 35] (0 inside it); component = OFIQ's sigmoid 200·(1 −
sigmoid(raw/10)). Not as OFIQ: the region is the cheeks-and-nose band of the 112x112 aligned crop (rows 55..90 of
the face ellipse, between the eyes and the mouth), not a face-parsing mask. A grey-scale photo sits at a* = b* = 0,
about 7 units outside the range, and reads about 67.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from service.measures.base import (
    CROP,
    MIN_FACE_PIXELS,
    FaceView,
    Measure,
    MeasureResult,
    not_assessable,
    sigmoid_component,
)

_BAND = np.zeros((CROP, CROP), dtype=bool)
_BAND[55:90, :] = True
_A_RANGE, _B_RANGE = (5.0, 25.0), (5.0, 35.0)


def _outside(value: float, low: float, high: float) -> float:
    return max(low - value, 0.0, value - high)


class NaturalColour(Measure):
    name = "NaturalColour"
    raw_scale = "CIELAB distance of the mean skin (a*, b*) from a* 5..25, b* 5..35"
    mapping = "200·(1 − sigmoid(raw/10)) (OFIQ)"
    reason = "unnatural_colour"
    needs = frozenset({"pixels"})

    def _assess(self, view: FaceView) -> MeasureResult:
        region = view.face_mask & _BAND
        if region.sum() < MIN_FACE_PIXELS // 2:
            return not_assessable("too little skin between the eyes and the mouth lies inside the frame")
        # the conversion is per pixel: only the band's pixels are converted (as a 1 x N image)
        lab = cv2.cvtColor(view.crop[region][None].astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)[0]
        a, b = float(lab[:, 1].mean()), float(lab[:, 2].mean())
        distance = math.hypot(_outside(a, *_A_RANGE), _outside(b, *_B_RANGE))
        return MeasureResult(distance, sigmoid_component(distance, h=200.0, a=1.0, s=-1.0, x0=0.0, w=10.0))
