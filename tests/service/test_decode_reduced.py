"""Reduced-size JPEG decoding for the detector: DCT-scaled frame, and faces mapped back to full-frame pixels."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from service.backends.onnxruntime import OnnxRuntimeBackend
from service.decode import decode_image
from service.detect import DETECTOR, DetectorTensors, detect
from service.errors import BadImage
from service.registry import Registry
from service.settings import Settings
from service.timing import Timings

LIMITS = {"max_bytes": 50_000_000, "max_pixels": 40_000_000, "min_side": 16}


def _frame(samples: Path, size: tuple[int, int], fmt: str = "JPEG", orientation: int | None = None) -> bytes:
    """``size`` frame with obama.jpg at 80 % of its height, centred (a one-face capture)."""
    face = Image.open(samples / "obama.jpg").convert("RGB")
    scale = 0.8 * size[1] / face.height
    face = face.resize((round(face.width * scale), round(face.height * scale)))
    canvas = Image.new("RGB", size, (120, 120, 120))
    canvas.paste(face, ((size[0] - face.width) // 2, (size[1] - face.height) // 2))
    buffer = io.BytesIO()
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    canvas.save(buffer, fmt, **({"quality": 90, "exif": exif} if fmt == "JPEG" else {}))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("size", "scale", "reduced"),
    [((4000, 3000), 4, (1000, 750)), ((2592, 1944), 4, (648, 486)), ((5184, 3888), 8, (648, 486))],
)
def test_large_jpeg_gets_a_dct_scaled_copy(samples: Path, size, scale, reduced) -> None:
    image = decode_image(_frame(samples, size), **LIMITS, reduce_to=640)
    assert (image.width, image.height) == size
    assert image.detect_scale == scale
    assert image.detect_rgb is not None and image.detect_rgb.dtype == np.uint8
    assert image.detect_rgb.shape == (reduced[1], reduced[0], 3)
    assert max(image.detect_rgb.shape[:2]) >= 640  # never smaller than the detector's input
    # The reduced frame is the same picture: compare with the full one box-averaged to that scale.
    height, width = (size[1] // scale) * scale, (size[0] // scale) * scale
    pooled = image.rgb[:height, :width].reshape(height // scale, scale, width // scale, scale, 3).mean(axis=(1, 3))
    difference = np.abs(pooled - image.detect_rgb[: height // scale, : width // scale]).mean()
    assert difference < 4.0


def test_no_reduced_copy_when_not_worth_it_or_not_jpeg(samples: Path) -> None:
    assert decode_image(_frame(samples, (1000, 750)), **LIMITS, reduce_to=640).detect_rgb is None
    # The gateway's default asks for at least 1/4 scale: a 1/2-scale decode is not worth a second decode.
    fhd = _frame(samples, (1920, 1080))
    assert decode_image(fhd, **LIMITS, reduce_to=640, min_reduction=4).detect_rgb is None
    assert decode_image(fhd, **LIMITS, reduce_to=640, min_reduction=2).detect_scale == 2
    assert decode_image(_frame(samples, (4000, 3000)), **LIMITS).detect_rgb is None
    png = decode_image(_frame(samples, (2000, 1500), fmt="PNG"), **LIMITS, reduce_to=640)
    assert png.detect_rgb is None and png.detect_scale == 1


def test_exif_orientation_applies_to_both_frames(samples: Path) -> None:
    image = decode_image(_frame(samples, (4000, 3000), orientation=6), **LIMITS, reduce_to=640)
    assert (image.width, image.height) == (3000, 4000)
    assert image.detect_rgb is not None and image.detect_rgb.shape == (1000, 750, 3)


@pytest.mark.parametrize("end", [b"", b"\xff\xd9"])  # cut, or cut and closed with an end-of-image marker
def test_truncated_large_jpeg_is_still_a_clear_error(samples: Path, end: bytes) -> None:
    data = _frame(samples, (4000, 3000))
    with pytest.raises(BadImage) as info:
        decode_image(data[: len(data) // 2] + end, **LIMITS, reduce_to=640)
    assert info.value.code == "truncated_image" and info.value.status == 400


SETTINGS = Settings()
REGISTRY = Registry(SETTINGS.models_dir)


@pytest.fixture(scope="module")
def backend():
    engine = OnnxRuntimeBackend(REGISTRY, SETTINGS)
    engine.load_sync([DETECTOR])
    return engine


@pytest.mark.parametrize("orientation", [None, 6])
def test_faces_from_the_reduced_frame_match_the_full_frame(samples: Path, backend, orientation) -> None:
    image = decode_image(_frame(samples, (4000, 3000), orientation=orientation), **LIMITS, reduce_to=640)

    def run(rgb: np.ndarray, upscale: int):
        return asyncio.run(
            detect(
                backend,
                DetectorTensors.from_card(REGISTRY[DETECTOR]),
                rgb,
                Timings(),
                max_side=640,
                threshold=0.5,
                iou_threshold=0.3,
                upscale=upscale,
                frame_size=(image.width, image.height),
            )
        )

    full, reduced = run(image.rgb, 1), run(image.detect_rgb, image.detect_scale)
    assert len(full) == len(reduced) == 1
    eyes = full[0].inter_eye_distance
    assert eyes > 100  # frame pixels, not reduced-frame pixels (about 4x fewer)
    assert reduced[0].inter_eye_distance == pytest.approx(eyes, rel=0.03)
    assert np.abs(full[0].landmarks - reduced[0].landmarks).max() < 0.05 * eyes
    assert np.abs(full[0].box - reduced[0].box).max() < 0.05 * (full[0].box[2] - full[0].box[0])
    assert (reduced[0].box[2:] <= [image.width, image.height]).all()
