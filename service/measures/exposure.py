"""UnderExposurePrevention and OverExposurePrevention: the share of the face's pixels at the ends of the luminance
range.

As OFIQ: raw = the proportion of face-region pixels with luminance in [0, 25] (under) or [247, 255] (over), mapped
by OFIQ's sigmoid (h 120, a 0.832, s -1, x0 0.92, w 0.05; OFIQ's configuration states it for under-exposure and we
use it for both): a face is marked down only when most of it is clipped. Not as OFIQ: the face region is a fixed
ellipse of the 112x112 aligned crop, not a face-parsing mask of OFIQ's 616x616 alignment; luminance is BT.601 luma.
A face that is merely dark without clipping is caught by LuminanceMean.
"""

from __future__ import annotations

from service.measures.base import FaceView, Measure, MeasureResult, sigmoid_component


class ClippedShare(Measure):
    """The share of face pixels with luminance in ``low..high``, mapped by OFIQ's sigmoid."""

    mapping = "120·(0.832 − sigmoid((raw − 0.92)/0.05)), clipped to 0..100 (OFIQ)"
    needs = frozenset({"pixels"})

    def __init__(self, name: str, low: int, high: int, reason: str):
        self.name, self.low, self.high, self.reason = name, low, high, reason
        self.raw_scale = f"share of face pixels with luminance {low}..{high} (0..1)"

    def _assess(self, view: FaceView) -> MeasureResult:
        luminance = view.face_luminance
        share = float(((luminance >= self.low - 0.5) & (luminance <= self.high + 0.5)).mean())
        return MeasureResult(share, sigmoid_component(share, h=120.0, a=0.832, s=-1.0, x0=0.92, w=0.05))


EXPOSURE = (
    ClippedShare("UnderExposurePrevention", 0, 25, "underexposed"),
    ClippedShare("OverExposurePrevention", 247, 255, "overexposed"),
)
