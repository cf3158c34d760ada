"""InterEyeDistance and HeadSize: is the face large enough in the frame, and not too large?

InterEyeDistance as OFIQ: raw = the distance between the eye centres in frame pixels, component =
100·sigmoid((raw − 70)/20) (OFIQ); OFIQ's eye centres come from its 98 ADNet landmarks, ours are the detector's.

HeadSize: OFIQ's raw is the head's height (crown to chin) over the image height, mapped by 200·(1 −
sigmoid(|raw − 0.45|/0.05)). We keep the mapping but, without a crown and chin, take the detector's box height
(brows to chin, so smaller than OFIQ's head height for the same photo) over the frame height.
"""

from __future__ import annotations

from service.measures.base import FaceView, Measure, MeasureResult, not_assessable, sigmoid_component


class InterEyeDistance(Measure):
    name = "InterEyeDistance"
    raw_scale = "pixels between the eye centres in the frame"
    mapping = "100·sigmoid((raw − 70)/20) (OFIQ)"
    reason = "face_too_small"
    needs = frozenset({"landmarks"})

    def _assess(self, view: FaceView) -> MeasureResult:
        distance = view.inter_eye_distance
        return MeasureResult(distance, sigmoid_component(distance, x0=70.0, w=20.0))


class HeadSize(Measure):
    name = "HeadSize"
    raw_scale = "face box height / frame height (OFIQ: crown-to-chin height / image height)"
    mapping = "200·(1 − sigmoid(|raw − 0.45|/0.05)) (OFIQ)"
    reason = "face_too_small"
    needs = frozenset({"box"})

    def _assess(self, view: FaceView) -> MeasureResult:
        height = float(view.box[3] - view.box[1])
        if view.height <= 0 or height <= 0:
            return not_assessable("the face box has no height")
        share = height / view.height
        return MeasureResult(share, sigmoid_component(abs(share - 0.45), h=200.0, a=1.0, s=-1.0, x0=0.0, w=0.05))

    def reason_for(self, result: MeasureResult) -> str:
        return "face_too_small" if result.raw < 0.45 else "face_too_close"
