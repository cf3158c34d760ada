"""The four crop margins: is there enough of the frame around the face on each side?

As OFIQ (ISO/IEC 29794-5): raw = the distance from the midpoint of the eye centres to the left, right, top or
bottom image border, in inter-eye distances; component = 100·sigmoid((raw − x0)/0.1) with x0 0.9 (left, right),
1.4 (above) and 1.8 (below) (OFIQ's configuration). OFIQ's older conformance table names the last two
UpwardCropOfTheFaceImage and DownwardCropOfTheFaceImage; we use its current names. The eye centres are the
detector's landmarks, not OFIQ's ADNet ones.
"""

from __future__ import annotations

from typing import Literal

from service.measures.base import FaceView, Measure, MeasureResult, not_assessable, sigmoid_component

Border = Literal["left", "right", "top", "bottom"]


class CropMargin(Measure):
    """The margin from the eye midpoint to one ``border``, mapped with OFIQ's ``x0`` for that border."""

    reason = "face_not_centred"
    needs = frozenset({"landmarks", "frame_size"})

    def __init__(self, name: str, border: Border, x0: float):
        self.name, self.border, self.x0 = name, border, x0
        self.raw_scale = f"eye midpoint to the {border} image border, in inter-eye distances"
        self.mapping = f"100·sigmoid((raw − {x0})/0.1) (OFIQ)"

    def _assess(self, view: FaceView) -> MeasureResult:
        distance = view.inter_eye_distance
        if distance < 1e-6:
            return not_assessable("the eye landmarks coincide")
        x, y = ((view.landmarks[0] + view.landmarks[1]) / 2.0).tolist()
        pixels = {"left": x, "right": view.width - x, "top": y, "bottom": view.height - y}[self.border]
        margin = pixels / distance
        return MeasureResult(margin, sigmoid_component(margin, x0=self.x0, w=0.1))


MARGINS = (
    CropMargin("LeftwardCropOfTheFaceImage", "left", 0.9),
    CropMargin("RightwardCropOfTheFaceImage", "right", 0.9),
    CropMargin("MarginAboveOfTheFaceImage", "top", 1.4),
    CropMargin("MarginBelowOfTheFaceImage", "bottom", 1.8),
)
