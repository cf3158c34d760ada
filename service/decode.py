"""Image bytes -> RGB uint8 array, with limits checked before any pixel is decoded."""

from __future__ import annotations

import contextlib
import io
import math
import re
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from service.errors import BadImage, TooLarge

# Formats a capture device or an enrolment tool plausibly sends (PGM/GIF cover legacy face databases).
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "PPM", "MPO"})
# Formats libjpeg can decode at 1/2, 1/4 or 1/8 scale (DCT scaling).
_DCT_SCALABLE = frozenset({"JPEG", "MPO"})
# A marker after entropy-coded JPEG data: 0xFF followed by neither stuffing (00), a restart (D0-D7) nor fill (FF).
_MARKER_AFTER_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_TRUNCATED = "image data ends early: the file is truncated"


@dataclass(frozen=True)
class DecodedImage:
    """An upright RGB frame, possibly decoded at reduced scale, and where it came from."""

    rgb: np.ndarray  # HxWx3 uint8, C-contiguous: the image at 1/scale
    format: str
    size: tuple[int, int]  # the upright image's own width, height
    scale: int = 1  # image pixels per rgb pixel (1, 2, 4 or 8)
    detect_rgb: np.ndarray | None = None  # the image decoded at 1/detect_scale for the detector, or None
    detect_scale: int = 1  # image pixels per detect_rgb pixel (2, 4 or 8)

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    def for_detector(self) -> tuple[np.ndarray, int]:
        """The frame the detector reads and its image pixels per pixel: the reduced copy when there is one."""
        return (self.rgb, self.scale) if self.detect_rgb is None else (self.detect_rgb, self.detect_scale)


def header_pixels(data: bytes) -> int:
    """Width x height as the image's header states it, read without decoding; 0 when the header cannot be read
    (decoding will then give that image its own error)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            width, height = Image.open(io.BytesIO(data)).size
    except (Image.DecompressionBombError, UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return 0
    return width * height


def decode_image(
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int,
    min_side: int,
    reduce_to: int | None = None,
    min_reduction: int = 2,
    frame_side: int | None = None,
    max_frame_scale: int = 8,
) -> DecodedImage:
    """Decode ``data``; raise ``BadImage`` / ``TooLarge`` with a message a client can act on.

    With ``frame_side``, a JPEG is decoded at the coarsest 1/2, 1/4 or 1/8 scale (at most 1/``max_frame_scale``)
    whose long side stays >= ``frame_side``: the frame itself is reduced (``service.decode_scale`` says when).
    With ``reduce_to`` (the detector's long side), a JPEG at least ``min_reduction`` times that size is also
    decoded at reduced scale for the detector: cheaper than resizing the full frame, which alignment still gets.
    """
    if not data:
        raise BadImage("empty image: no bytes were sent", code="empty_image")
    if len(data) > max_bytes:
        raise TooLarge(f"image has {len(data)} bytes, limit is {max_bytes}", code="image_too_large")
    image = _open(data, max_pixels)
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
    scale = 1
    if frame_side and fmt in _DCT_SCALABLE:
        scale = _draft(image, dct_scale((width, height), frame_side, max_frame_scale))
    _load(image)
    if fmt in _DCT_SCALABLE and _jpeg_ends_early(data, image, scale):
        raise BadImage(_TRUNCATED, code="truncated_image")
    turned = _upright(image)
    rgb = np.ascontiguousarray(_to_rgb8(image))
    # the upright image's own size: the frame's, or at reduced scale the header's (the reduced frame's is rounded up)
    stated = (height, width) if turned else (width, height)
    size = (int(rgb.shape[1]), int(rgb.shape[0])) if scale == 1 else stated
    reduced = None
    if reduce_to and fmt in _DCT_SCALABLE and scale == 1:
        reduced = _reduced_jpeg(data, (width, height), reduce_to, min_reduction)
    if reduced is None:
        return DecodedImage(rgb=rgb, format=fmt, size=size, scale=scale)
    return DecodedImage(rgb=rgb, format=fmt, size=size, detect_rgb=reduced[0], detect_scale=reduced[1])


def dct_scale(size: tuple[int, int], long_side: int, max_scale: int = 8) -> int:
    """The coarsest JPEG DCT scale (8, 4, 2; at most ``max_scale``) whose decoded long side stays >= ``long_side``;
    1 when none does."""
    longest = max(size)
    return next((s for s in (8, 4, 2) if s <= max_scale and math.ceil(longest / s) >= long_side), 1)


def _draft(image: Image.Image, scale: int) -> int:
    """Ask libjpeg to decode ``image`` (not loaded yet) at 1/``scale``; the scale it will decode at."""
    if scale == 1:
        return 1
    width, height = image.size
    # Pillow takes the largest scale s with (size // requested) >= s on both sides
    image.draft("RGB", (max(1, width // scale), max(1, height // scale)))
    return round(width / image.size[0])


def _reduced_jpeg(
    data: bytes, size: tuple[int, int], long_side: int, min_reduction: int
) -> tuple[np.ndarray, int] | None:
    """The JPEG decoded at the smallest 1/2, 1/4 or 1/8 scale whose long side stays >= ``long_side``."""
    wanted = dct_scale(size, long_side)
    if wanted < min_reduction:
        return None
    image = Image.open(io.BytesIO(data))
    if _draft(image, wanted) < min_reduction:
        return None
    scale = round(size[0] / image.size[0])
    _load(image)
    _upright(image)
    return np.ascontiguousarray(_to_rgb8(image)), scale


def _open(data: bytes, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooLarge(f"image has more pixels than the limit of {max_pixels}", code="too_many_pixels") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        if _container_ends_early(data):
            raise BadImage(_TRUNCATED, code="truncated_image") from exc
        raise BadImage("bytes are not a recognised image format", code="not_an_image") from exc
    if image.format not in ACCEPTED_FORMATS:
        accepted = ", ".join(sorted(ACCEPTED_FORMATS))
        raise BadImage(
            f"image format {image.format} is not accepted (accepted: {accepted})", code="unsupported_image_format"
        )
    return image


def _container_ends_early(data: bytes) -> bool:
    """A WebP (RIFF) or TIFF whose header points past the bytes received: it was cut short, so Pillow could not
    even open it."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return int.from_bytes(data[4:8], "little") + 8 > len(data)
    if data[:4] in (b"II*\x00", b"MM\x00*") and len(data) >= 8:
        return int.from_bytes(data[4:8], "little" if data[:2] == b"II" else "big") >= len(data)
    return False


def _load(image: Image.Image) -> None:
    """Decode the pixels; data that ends early is ``truncated_image``, any other decoder failure ``corrupt_image``."""
    try:
        image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        # Pillow says "image file is truncated" / "Truncated File Read" when the data stops before the last pixel.
        if "truncated" in str(exc).lower():
            raise BadImage(_TRUNCATED, code="truncated_image") from exc
        raise BadImage("image data is corrupt: the decoder could not read its pixels", code="corrupt_image") from exc


def _upright(image: Image.Image) -> bool:
    """Turn ``image`` in place as its EXIF orientation says (in place: most images are upright, and are then not
    copied); whether that swapped its width and height (orientations 5 to 8). EXIF that cannot be read is
    ``corrupt_image``."""
    try:
        turned = image.getexif().get(ExifTags.Base.Orientation, 1) in (5, 6, 7, 8)
        ImageOps.exif_transpose(image, in_place=True)
        return turned
    except (OSError, ValueError, SyntaxError) as exc:
        raise BadImage("image metadata is corrupt: its EXIF orientation cannot be read", code="corrupt_image") from exc


# --- JPEG data that ends early ------------------------------------------------------------------------------
# libjpeg pads a scan that stops at a marker (say an end-of-image marker written after half the data) with zero
# coefficients and only warns, and Pillow drops libjpeg's warnings: the image "decodes", its missing part a flat
# mid-grey (sequential JPEG) or missing its last refinements (progressive JPEG). Both are found here.


@dataclass(frozen=True)
class _Scan:
    """One start-of-scan header: the components it codes, its spectral band and successive-approximation bit."""

    components: tuple[int, ...]
    first: int  # Ss: first DCT coefficient
    last: int  # Se: last DCT coefficient
    low_bit: int  # Al: the scan leaves coefficients known down to this bit (0: complete)


def _jpeg_ends_early(data: bytes, image: Image.Image, scale: int) -> bool:
    """Whether a decoded JPEG lacked data for some coefficients (the image is ``image``, before orientation, decoded
    at 1/``scale``)."""
    progressive = bool(image.info.get("progressive"))
    if not progressive and not _flat_mid_grey_corner(image, max(1, 8 // scale)):
        return False  # a complete sequential scan cannot end in libjpeg's padding; the common case stops here
    layout = _jpeg_layout(data)
    if layout is None:
        return False  # a structure this parser does not follow: Pillow decoded it, so it is kept
    components, scans, end = layout
    if not _coefficients_complete(components, scans):
        return True
    if progressive or len(scans) > 1:
        return False  # the corner test below needs one sequential scan, decoded row by row
    return not _last_row_decoded_before_end(data[:end], image, scale)


def _flat_mid_grey_corner(image: Image.Image, side: int) -> bool:
    """The bottom-right 8x8 block (``side`` pixels at reduced scale) is flat at 127/128 in every channel: what zero
    coefficients decode to."""
    width, height = image.size
    corner = np.asarray(image.crop((max(0, width - side), max(0, height - side), width, height)))
    return bool(np.isin(corner, (127, 128)).all() and (corner == corner.flat[0]).all())


def _jpeg_layout(data: bytes) -> tuple[list[int], list[_Scan], int] | None:
    """The frame's component ids, its scan headers and the offset of its end-of-image marker, or None when the
    marker structure cannot be followed."""
    components: list[int] = []
    scans: list[_Scan] = []
    pos = 2  # after the start-of-image marker
    try:
        while pos + 2 <= len(data):
            marker = data[pos + 1]
            if data[pos] != 0xFF:
                return None
            if marker == 0xFF:  # fill byte before a marker
                pos += 1
            elif marker == 0xD9:  # end of image
                return components, scans, pos
            elif marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
                pos += 2
            else:
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
                body = data[pos + 4 : pos + 2 + length]
                pos += 2 + length
                if marker in (0xC0, 0xC1, 0xC2):  # baseline, extended sequential, progressive frame
                    components = [body[6 + 3 * i] for i in range(body[5])]
                elif marker == 0xDA:  # start of scan, then its entropy-coded data up to the next marker
                    count = body[0]
                    first, last, bits = body[1 + 2 * count : 4 + 2 * count]
                    scans.append(_Scan(tuple(body[1 : 1 + 2 * count : 2]), first, last, bits & 0x0F))
                    found = _MARKER_AFTER_SCAN.search(data, pos)
                    if found is None:
                        return None
                    pos = found.start()
    except (IndexError, ValueError):
        return None
    return None


def _coefficients_complete(components: list[int], scans: list[_Scan]) -> bool:
    """Every DCT coefficient of every component was coded to its last bit by some scan (a progressive file cut
    between scans, then closed with an end marker, misses its later scans)."""
    complete = {component: set() for component in components}
    for scan in scans:
        if scan.low_bit == 0:
            for component in scan.components:
                complete.get(component, set()).update(range(scan.first, min(scan.last, 63) + 1))
    return all(len(coded) == 64 for coded in complete.values())


def _last_row_decoded_before_end(body: bytes, image: Image.Image, scale: int) -> bool:
    """Decode the scan again without its end marker (zero bytes after it stand in for the lookahead libjpeg wants)
    and see whether the bottom-right pixel was reached: a complete scan reaches it, a short one stops early.

    Run only when that corner is flat mid-grey, so a legitimately grey corner is told from libjpeg's padding."""
    probe = Image.open(io.BytesIO(body + bytes(16)), formats=["JPEG"])
    _draft(probe, scale)  # the same scale as ``image``, so the same pixel is compared
    # Without its end marker the file never finishes (OSError); the rows decoded before that are what count.
    with contextlib.suppress(OSError):
        probe.load()
    corner = (image.width - 1, image.height - 1)
    return bool(probe.im.getpixel(corner) == image.getpixel(corner))


def _to_rgb8(image: Image.Image) -> np.ndarray:
    """Bring any Pillow mode (grey, palette, alpha, premultiplied alpha, CMYK, 16-bit, float) to 8-bit RGB."""
    mode = image.mode
    if mode == "La":
        # Grey premultiplied by alpha (TIFF "associated alpha"), which Pillow cannot convert to RGB. On white,
        # grey * a + 255 * (1 - a) is the stored value + 255 - alpha.
        values = np.asarray(image, dtype=np.int16)
        grey = np.clip(values[:, :, 0] + 255 - values[:, :, 1], 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
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
        try:
            image = image.convert("RGB")
        except ValueError as exc:
            raise BadImage(f"image pixel format {mode} cannot be read as RGB", code="unsupported_image_mode") from exc
    return np.asarray(image)
