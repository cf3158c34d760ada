"""BackgroundUniformity: is the background around the head plain, as a reference photo's must be?

As OFIQ: the background is what a segmentation network leaves out of the person, and the raw value is its mean
gradient magnitude (a plain wall, even with a soft light fall-off, has almost none; furniture, foliage, posters and
other people have much). Not as OFIQ: OFIQ segments its own aligned face image with a face-parsing network; we run
MediaPipe's selfie segmentation (``models/selfie``) on a head-and-shoulders crop (the ArcFace alignment zoomed out
2.5 times, 256x256, upright), so every face's background is judged at the same scale relative to the face. The
person mask is widened by 4 crop pixels so the outline of hair and shoulders is not counted, and pixels of the crop
from outside the frame (black padding) are left out. Raw: mean Sobel gradient magnitude of luma (grey levels per
crop pixel) over the background; mapping ours, linear from 1 (plain: Yale's wall reads 0.2..0.6) -> 100 to 8 (busy:
a flag behind a speaker reads about 12) -> 0. Fewer than 5% of the crop's pixels in the background (a frame cut
tight around the head) is not assessable.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from service.align import crop_inside_frame
from service.measures.base import FaceView, MeasureResult, NetworkMeasure, component, not_assessable
from service.measures.networks import INPUT, TRANSFORM

NETWORK = "selfie"
PERSON = 0.5  # the mask's probability from which a pixel is the person
MARGIN = np.ones((9, 9), np.uint8)  # widens the person by 4 pixels each way
MIN_BACKGROUND = 0.05
PLAIN, BUSY = 1.0, 8.0
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _inside(transform: np.ndarray, size: int, shape: tuple[int, int]) -> np.ndarray:
    """Which crop pixels came from inside the frame, off the padding's edge by a pixel."""
    inside = crop_inside_frame(transform, size, shape)
    return inside if inside.all() else cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


class BackgroundUniformity(NetworkMeasure):
    name = "BackgroundUniformity"
    raw_scale = "mean gradient magnitude (grey levels per pixel) of the background of a head-and-shoulders crop"
    mapping = f"linear, {BUSY:g} -> 0, {PLAIN:g} -> 100, clipped (ours; OFIQ segments with face parsing)"
    reason = "background_not_uniform"
    network = NETWORK

    def _read(self, view: FaceView, outputs: Mapping[str, np.ndarray]) -> MeasureResult:
        mask = np.asarray(outputs["mask"], dtype=np.float32)[0, ..., 0]
        size = mask.shape[0]
        person = cv2.dilate((mask >= PERSON).astype(np.uint8), MARGIN).astype(bool)
        background = _inside(outputs[TRANSFORM][0], size, (view.height, view.width)) & ~person
        if background.mean() < MIN_BACKGROUND:
            return not_assessable("too little background around the head lies inside the frame")
        # the network's input is RGB on 0..1 (its card's scale of 1/255)
        luma = (np.asarray(outputs[INPUT], dtype=np.float32)[0] @ _LUMA) * 255.0
        gradient = np.hypot(cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3))
        raw = float(gradient[background].mean()) / 8.0  # the 3x3 Sobel kernel's gain: grey levels per pixel
        return MeasureResult(raw, component(100.0 * (BUSY - raw) / (BUSY - PLAIN)))
