"""LuminanceMean and LuminanceVariance of the face region (luminance scaled to 0..1).

OFIQ's names and raw scales (mean and variance of the face region's luminance in 0..1). OFIQ's configuration does
not state these two mappings; ours are fitted to the raw/component pairs of OFIQ's conformance table
(data/tests/expected_results/expected_results.csv, 28 images). LuminanceMean rises as sigmoid((raw − 0.2)/0.05) on
the dark side (all 28 rows exactly) and we mirror it about 0.5 on the bright side (the table has no bright face);
LuminanceVariance is a band, sigmoid((raw − 0.0047)/0.00175)·sigmoid((0.0686 − raw)/0.0157) (least squares: within
7 points of every row, 2.4 on average). Not as OFIQ: the face region is a fixed ellipse of the 112x112 aligned
crop, not a face-parsing mask.
"""

from __future__ import annotations

import math

from service.measures.base import FaceView, Measure, MeasureResult, component


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(z, 60.0), -60.0)))


class LuminanceMean(Measure):
    name = "LuminanceMean"
    raw_scale = "mean face luminance, 0..1"
    mapping = "100·sigmoid((raw − 0.2)/0.05)·sigmoid((0.8 − raw)/0.05) (dark side fitted to OFIQ's table)"
    reason = "underexposed"
    needs = frozenset({"pixels"})

    def _assess(self, view: FaceView) -> MeasureResult:
        mean = float(view.face_luminance.mean()) / 255.0
        return MeasureResult(mean, component(100.0 * _sigmoid((mean - 0.2) / 0.05) * _sigmoid((0.8 - mean) / 0.05)))

    def reason_for(self, result: MeasureResult) -> str:
        return "underexposed" if result.raw < 0.5 else "overexposed"


class LuminanceVariance(Measure):
    name = "LuminanceVariance"
    raw_scale = "variance of face luminance, luminance in 0..1"
    mapping = "100·sigmoid((raw − 0.0047)/0.00175)·sigmoid((0.0686 − raw)/0.0157) (fitted to OFIQ's table)"
    reason = "uneven_lighting"
    needs = frozenset({"pixels"})

    def _assess(self, view: FaceView) -> MeasureResult:
        variance = float((view.face_luminance / 255.0).var())
        band = _sigmoid((variance - 0.0047) / 0.00175) * _sigmoid((0.0686 - variance) / 0.0157)
        return MeasureResult(variance, component(100.0 * band))

    def reason_for(self, result: MeasureResult) -> str:
        """Too little variance is a flat, low-contrast face; too much is harsh, uneven light."""
        return "low_contrast" if result.raw < 0.02 else "uneven_lighting"
