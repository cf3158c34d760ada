"""DynamicRange: how many luminance levels the face uses, as the entropy of its luminance histogram.

As OFIQ: raw = the Shannon entropy (bits) of the 256-bin luminance histogram of the face region, component =
12.5·raw (8 bits -> 100; OFIQ's conformance table shows exactly this ratio). Not as OFIQ: the face region is a
fixed ellipse of the 112x112 aligned crop; OFIQ rounds nothing here, we round to an integer like every component.
"""

from __future__ import annotations

import numpy as np

from service.measures.base import FaceView, Measure, MeasureResult, component


class DynamicRange(Measure):
    name = "DynamicRange"
    raw_scale = "entropy of the face's 256-bin luminance histogram, bits (0..8)"
    mapping = "12.5·raw (OFIQ)"
    reason = "low_contrast"
    needs = frozenset({"pixels"})

    def _assess(self, view: FaceView) -> MeasureResult:
        values = np.clip(view.face_luminance, 0, 255).astype(np.uint8)
        counts = np.bincount(values, minlength=256).astype(np.float64)
        p = counts[counts > 0] / counts.sum()
        entropy = float(-(p * np.log2(p)).sum())
        return MeasureResult(entropy, component(12.5 * entropy))
