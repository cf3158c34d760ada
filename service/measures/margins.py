"""The four crop margins: is there enough of the frame around the face on each side?

As OFIQ (ISO/IEC 29794-5): raw = the distance from the midpoint of the eye centres to the left, right, top or
bottom image border, in inter-eye distances; component = 100·sigmoid((raw − x0)/0.1) with x0 0.9 (left, right),
1.4 (above) and 1.8 (below) (OFIQ's configuration). OFIQ's older conformance table names the last two
UpwardCropOfTheFaceImage and DownwardCropOfTheFaceImage; we use its current names. The eye centres are the
detector's landmarks, not OFIQ's ADNet ones.
"""

from __future__ import annotations

from typing import ClassVar

from service.measures.base import FaceView, Measure, MeasureResult, not_assessable, sigmoid_component


class _Margin(Measure):
    """A margin from the eye midpoint to one border; subclasses say which border and OFIQ's x0."""

    reason = "face_not_centred"
    needs = frozenset({"landmarks", "frame_size"})
    x0: ClassVar[float]

    def _assess(self, view: FaceView) -> MeasureResult:
        distance = view.inter_eye_distance
        if distance < 1e-6:
            return not_assessable("the eye landmarks coincide")
        x, y = ((view.landmarks[0] + view.landmarks[1]) / 2.0).tolist()
        margin = self._pixels(x, y, view) / distance
        return MeasureResult(margin, sigmoid_component(margin, x0=self.x0, w=0.1))

    def _pixels(self, x: float, y: float, view: FaceView) -> float:
        raise NotImplementedError


class LeftwardCropOfTheFaceImage(_Margin):
    name = "LeftwardCropOfTheFaceImage"
    raw_scale = "eye midpoint to the left image border, in inter-eye distances"
    mapping = "100·sigmoid((raw − 0.9)/0.1) (OFIQ)"
    x0 = 0.9

    def _pixels(self, x: float, y: float, view: FaceView) -> float:
        return x


class RightwardCropOfTheFaceImage(_Margin):
    name = "RightwardCropOfTheFaceImage"
    raw_scale = "eye midpoint to the right image border, in inter-eye distances"
    mapping = "100·sigmoid((raw − 0.9)/0.1) (OFIQ)"
    x0 = 0.9

    def _pixels(self, x: float, y: float, view: FaceView) -> float:
        return view.width - x


class MarginAboveOfTheFaceImage(_Margin):
    name = "MarginAboveOfTheFaceImage"
    raw_scale = "eye midpoint to the top image border, in inter-eye distances"
    mapping = "100·sigmoid((raw − 1.4)/0.1) (OFIQ)"
    x0 = 1.4

    def _pixels(self, x: float, y: float, view: FaceView) -> float:
        return y


class MarginBelowOfTheFaceImage(_Margin):
    name = "MarginBelowOfTheFaceImage"
    raw_scale = "eye midpoint to the bottom image border, in inter-eye distances"
    mapping = "100·sigmoid((raw − 1.8)/0.1) (OFIQ)"
    x0 = 1.8

    def _pixels(self, x: float, y: float, view: FaceView) -> float:
        return view.height - y
