"""SingleFacePresent: does one face dominate the frame?

As OFIQ: raw = the size of the second-largest detected face relative to the largest (0 when only one face is
found), component = 100·(1 − raw) (OFIQ's conformance table shows this). Face size here is the square root of the
detector box's area; every face of the image gets the same value.
"""

from __future__ import annotations

import math

from service.measures.base import FaceView, Measure, MeasureResult, component


def _size(box) -> float:
    return math.sqrt(max(float(box[2] - box[0]), 0.0) * max(float(box[3] - box[1]), 0.0))


class SingleFacePresent(Measure):
    name = "SingleFacePresent"
    raw_scale = "second-largest face size / largest face size (0: one face)"
    mapping = "100·(1 − raw) (OFIQ)"
    reason = "multiple_faces"
    needs = frozenset({"faces"})

    def _assess(self, view: FaceView) -> MeasureResult:
        sizes = sorted((_size(box) for box in view.boxes or (view.box,)), reverse=True)
        ratio = sizes[1] / sizes[0] if len(sizes) > 1 and sizes[0] > 0 else 0.0
        return MeasureResult(ratio, component(100.0 * (1.0 - ratio)))
