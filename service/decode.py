"""Image bytes -> RGB uint8 array, with limits checked before any pixel is decoded."""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from service.errors import BadImage, TooLarge

# Formats a capture device or an enrolment tool plausibly sends (PGM/GIF cover legacy face databases).
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "PPM", "MPO"})
# Formats libjpeg can decode at 1/2, 1/4 or 1/8 scale (DCT scaling).
_DCT_SCALABLE = frozenset({"JPEG", "MPO"})


@dataclass(frozen=True)
class DecodedImage:
    """An upright RGB frame and where it came from."""

    rgb: np.ndarray  # HxWx3 uint8, C-contiguous
    format: str
    detect_rgb: np.ndarray | None = None  # the same frame decoded at 1/detect_scale for the detector, or None
    detect_scale: int = 1  # frame pixels per detect_rgb pixel (2, 4 or 8)

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def decode_image(
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int,
    min_side: int,
    reduce_to: int | None = None,
    min_reduction: int = 2,
) -> DecodedImage:
    """Decode ``data``; raise ``BadImage`` / ``TooLarge`` with a message a client can act on.

    With ``reduce_to`` (the detector's long side), a JPEG at least ``min_reduction`` times that size is also
    decoded at reduced scale for the detector: cheaper than resizing the full frame, which alignment still gets.
    """
    if not data:
        raise BadImage("empty image: no bytes were sent", code="empty_image")
    if len(data) > max_bytes:
        raise TooLarge(f"image has {len(data)} bytes, limit is {max_bytes}", code="image_too_large")
    image = _open(data)
    width, height = image.size
    if width * height > max_pixels:
        # Checked from the header alone: a decompression bomb is refused before it is decoded.
        raise TooLarge(
            f"image is {width}x{height} = {width * height} pixels, limit is {max_pixels}",
            code="too_many_pixels",
        )
    if min(width, height) < min_side:
        raise BadImage(f"image is {width}x{height}, smaller than {min_side} px on a side", code="image_too_small")
    fmt = str(image.format)
    try:
        image.load()
        image = ImageOps.exif_transpose(image) or image
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise BadImage(f"image data is truncated or corrupt ({type(exc).__name__})", code="corrupt_image") from exc
    rgb = _to_rgb8(image)
    reduced = None
    if reduce_to and fmt in _DCT_SCALABLE:
        reduced = _reduced_jpeg(data, (width, height), reduce_to, min_reduction)
    if reduced is None:
        return DecodedImage(rgb=np.ascontiguousarray(rgb), format=fmt)
    return DecodedImage(rgb=np.ascontiguousarray(rgb), format=fmt, detect_rgb=reduced[0], detect_scale=reduced[1])


def _reduced_jpeg(
    data: bytes, size: tuple[int, int], long_side: int, min_reduction: int
) -> tuple[np.ndarray, int] | None:
    """The JPEG decoded at the smallest 1/2, 1/4 or 1/8 scale whose long side stays >= ``long_side``."""
    width, height = size
    factor = max(width, height) / long_side
    if factor < min_reduction:
        return None
    image = Image.open(io.BytesIO(data))
    image.draft("RGB", (math.ceil(width / factor), math.ceil(height / factor)))
    scale = round(width / image.size[0])
    if scale < min_reduction:
        return None
    try:
        image.load()
        image = ImageOps.exif_transpose(image) or image
    except (OSError, ValueError, SyntaxError) as exc:
        raise BadImage(f"image data is truncated or corrupt ({type(exc).__name__})", code="corrupt_image") from exc
    return np.ascontiguousarray(_to_rgb8(image)), scale


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooLarge(str(exc), code="too_many_pixels") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise BadImage("bytes are not a recognised image format", code="not_an_image") from exc
    if image.format not in ACCEPTED_FORMATS:
        raise BadImage(f"image format {image.format} is not accepted", code="unsupported_image_format")
    return image


def _to_rgb8(image: Image.Image) -> np.ndarray:
    """Bring any Pillow mode (grey, palette, alpha, CMYK, 16-bit, float) to 8-bit RGB."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        # I;16 declares its 16-bit scale; only I/F leave the range to be guessed from the values.
        sixteen = mode.startswith("I;16") or values.max(initial=0.0) > 255
        top = 1.0 if mode == "F" and values.max(initial=0.0) <= 1.0 else (65535.0 if sixteen else 255.0)
        grey = np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        # Transparent pixels become white, as a photo printed on paper would show them.
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    if mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image)
