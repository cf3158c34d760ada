"""IlluminationUniformity: do the left and right halves of the face show the same light?

As OFIQ: raw = the intersection of the luminance histograms of the left and right face halves (1 = the same
distribution). Not as OFIQ: the halves are the two sides of a fixed ellipse of the 112x112 aligned crop split at the
template's vertical midline (OFIQ splits a face-parsing mask), the histograms have 32 bins and are normalised per
half, so our raw is on a different scale from OFIQ's and the mapping is ours: 100·raw (linear), which puts faces lit
from the front (Yale centerlight, LFW) near 70..90 and faces lit from one side (Yale leftlight, rightlight) far lower.
"""

from __future__ import annotations

import numpy as np

from service.measures.base import CROP, MIN_FACE_PIXELS, FaceView, Measure, MeasureResult, component, not_assessable

_BINS = 32
_LEFT = np.zeros((CROP, CROP), dtype=bool)
_LEFT[:, : CROP // 2] = True


class IlluminationUniformity(Measure):
    name = "IlluminationUniformity"
    raw_scale = "intersection of the left and right face halves' 32-bin luminance histograms (0..1)"
    mapping = "100·raw (ours; OFIQ's raw is on another scale)"
    reason = "uneven_lighting"
    needs = frozenset({"pixels"})

    def _assess(self, view: FaceView) -> MeasureResult:
        left, right = view.face_mask & _LEFT, view.face_mask & ~_LEFT
        if min(left.sum(), right.sum()) < MIN_FACE_PIXELS // 2:
            return not_assessable("one half of the face lies outside the frame")
        # 32 equal bins over 0..256: a pixel's bin is its luma // 8 (np.histogram's binning, without its overhead)
        bins = (view.luminance * (_BINS / 256.0)).astype(np.int64)
        histograms = [np.bincount(bins[half], minlength=_BINS) / float(half.sum()) for half in (left, right)]
        intersection = float(np.minimum(*histograms).sum())
        return MeasureResult(intersection, component(100.0 * intersection))
