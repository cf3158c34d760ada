"""Decode policy: at what scale a frame is decoded, and when its faces need it decoded finer.

A capture frame of 12 MP holds far more pixels than anything cut from it uses: the detector reads it at 640 px and
the crops are 112 to 192 px. With ``frame_decode=reduced`` a JPEG is decoded once, at the coarsest DCT scale (1/2,
1/4, 1/8) whose long side still fills the detector's input, and everything (detector, alignment, measure crops) runs
on that frame. Once the faces are found, each must hold at least ``frame_min_detail`` frame pixels per pixel of the
crops cut from it; when one does not, the JPEG is decoded again at the coarsest scale where all do (full resolution
at worst). ``frame_decode=full`` keeps the full-resolution frame (with the detector's reduced copy,
``det_reduced_decode``). ``loadtests/bench_detector.py`` measures both on the same frames.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from service.align import crop_magnification, template_scale
from service.decode import DecodedImage, decode_image
from service.detect import Face
from service.registry import Preprocess
from service.settings import Settings

# The ArcFace crop every face gets (``service.align.align``), whatever else the request cuts.
ARCFACE = Preprocess(alignment="arcface", crop_size=112)


@dataclass(frozen=True)
class DecodePolicy:
    """The settings the two decodes read."""

    reduced: bool  # frame_decode == "reduced"
    detector_side: int
    detector_copy: bool  # the detector's reduced copy of a full-resolution frame (det_reduced_decode)
    detector_copy_min_scale: int
    min_detail: float
    max_bytes: int
    max_pixels: int
    min_side: int

    @classmethod
    def from_settings(cls, s: Settings) -> DecodePolicy:
        return cls(
            reduced=s.frame_decode == "reduced",
            detector_side=s.det_max_side,
            detector_copy=s.det_reduced_decode,
            detector_copy_min_scale=s.det_reduced_decode_min_scale,
            min_detail=s.frame_min_detail,
            max_bytes=s.max_body_bytes,
            max_pixels=s.max_pixels,
            min_side=s.min_image_side,
        )

    def decode(self, data: bytes) -> DecodedImage:
        """The first decode: reduced as far as the detector allows, or full resolution (with the detector's copy)."""
        if self.reduced:
            return self._decode(data, frame_side=self.detector_side)
        reduce_to = self.detector_side if self.detector_copy else None
        return self._decode(data, reduce_to=reduce_to, min_reduction=self.detector_copy_min_scale)

    def finer_scale(self, image: DecodedImage, faces: list[Face], crops: Iterable[Preprocess] = ()) -> int | None:
        """The coarsest scale finer than the frame's at which every face holds ``min_detail`` frame pixels per pixel
        of the largest of ``crops`` (the ArcFace crop always among them; 1 when even full resolution does not), or
        None when the frame already does."""
        if image.scale == 1:
            return None  # full resolution: nothing finer to decode
        magnification = max(crop_magnification(preprocess) for preprocess in (ARCFACE, *crops))
        # a face whose landmarks define no crop (template scale 0) gets an empty crop at any scale: it is left out
        detail = min((d for face in faces if (d := template_scale(face.landmarks)) > 0), default=float("inf"))
        wanted = self.min_detail * magnification
        scale = next((s for s in (8, 4, 2) if s <= image.scale and detail / s >= wanted), 1)
        return scale if scale < image.scale else None

    def decode_at(self, data: bytes, scale: int) -> DecodedImage:
        """The JPEG decoded again at 1/``scale`` (a scale ``finer_scale`` gave)."""
        return self._decode(data, frame_side=self.detector_side, max_frame_scale=scale)

    def _decode(self, data: bytes, **scaling: Any) -> DecodedImage:
        return decode_image(
            data, max_bytes=self.max_bytes, max_pixels=self.max_pixels, min_side=self.min_side, **scaling
        )
