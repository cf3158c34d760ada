"""Sharpness: how much fine detail the face shows, as the variance of the Laplacian of its luminance.

Not as OFIQ: OFIQ feeds Laplacian, mean-difference and Sobel statistics of its 616x616 aligned face to a random
forest trained on its own data, which we do not have; we keep OFIQ's name and use the single classical statistic
(variance of the 3x3 Laplacian over the face region) on the 112x112 aligned crop, where every face has the same
scale, so a small face upscaled from a few pixels reads as blurred, as it is for recognition. The mapping is ours:
100·sigmoid((log10(raw) − 1.6)/0.25), set so LFW photos (soft 250x250 JPEGs) read about 60..95, sharper
photos near 100, and an LFW photo blurred by a Gaussian of sigma 1 px reads about 20..70, of sigma 2 px below 20.
"""

from __future__ import annotations

import math

import cv2

from service.measures.base import FaceView, Measure, MeasureResult, component

_X0, _W = 1.6, 0.25


class Sharpness(Measure):
    name = "Sharpness"
    raw_scale = "variance of the Laplacian of face luminance (0..255 scale) on the 112x112 crop"
    mapping = f"100·sigmoid((log10(raw) − {_X0})/{_W}) (ours; OFIQ uses a random forest)"
    reason = "blurred"
    needs = frozenset({"pixels"})

    def _assess(self, view: FaceView) -> MeasureResult:
        laplacian = cv2.Laplacian(view.luminance, cv2.CV_32F, ksize=1)
        # the ellipse edge meets the padding of an out-of-frame crop: only pixels whose neighbours are face pixels
        inner = cv2.erode(view.face_mask.astype("uint8"), None).astype(bool)
        variance = float(laplacian[inner].var()) if inner.any() else 0.0
        z = (math.log10(max(variance, 1e-6)) - _X0) / _W
        return MeasureResult(variance, component(100.0 / (1.0 + math.exp(-max(min(z, 60.0), -60.0)))))
