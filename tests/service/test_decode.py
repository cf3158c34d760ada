"""service.decode: every accepted format and Pillow mode comes out as upright 8-bit RGB; limits fail early."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from service.decode import ACCEPTED_FORMATS, decode_image
from service.errors import BadImage, TooLarge

LIMITS = {"max_bytes": 20 * 1024 * 1024, "max_pixels": 40_000_000, "min_side": 16}


def decode(data: bytes, **overrides: int):
    return decode_image(data, **{**LIMITS, **overrides})


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def quadrants(width: int = 64, height: int = 48) -> np.ndarray:
    """Four flat colour blocks: survives lossy codecs and shows any rotation or flip."""
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    h, w = height // 2, width // 2
    rgb[:h, :w] = (230, 20, 20)
    rgb[:h, w:] = (20, 230, 20)
    rgb[h:, :w] = (20, 20, 230)
    rgb[h:, w:] = (230, 230, 20)
    return rgb


def png_header_only(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG that claims ``width`` x ``height`` grey pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


# --- formats ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "expected_format", "tolerance"),
    [("PNG", "PNG", 0), ("BMP", "BMP", 0), ("TIFF", "TIFF", 0), ("JPEG", "JPEG", 12), ("WEBP", "WEBP", 12)],
)
def test_rgb_formats_roundtrip(fmt: str, expected_format: str, tolerance: int) -> None:
    rgb = quadrants()
    params = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    decoded = decode(encode(Image.fromarray(rgb), fmt, **params))
    assert decoded.format == expected_format
    assert decoded.rgb.shape == rgb.shape and decoded.rgb.dtype == np.uint8
    assert decoded.rgb.flags["C_CONTIGUOUS"]
    assert (decoded.width, decoded.height) == (64, 48)
    # Compare block centres (codec ringing sits on the edges).
    for y, x in ((12, 16), (12, 48), (36, 16), (36, 48)):
        assert np.abs(decoded.rgb[y, x].astype(int) - rgb[y, x].astype(int)).max() <= tolerance


def test_real_jpeg_sample(samples: Path) -> None:
    decoded = decode((samples / "obama.jpg").read_bytes())
    assert decoded.format == "JPEG"
    assert decoded.rgb.shape == (1137, 910, 3)
    assert decoded.rgb.std() > 10  # a photo, not a blank frame


def test_pgm_from_orl_is_grey_replicated(data_dir: Path) -> None:
    path = data_dir / "orl" / "s1" / "1.pgm"
    decoded = decode(path.read_bytes())
    grey = np.asarray(Image.open(path))
    assert decoded.format == "PPM"  # Pillow's name for the PGM/PPM family
    assert decoded.rgb.shape == (112, 92, 3)
    for channel in range(3):
        np.testing.assert_array_equal(decoded.rgb[:, :, channel], grey)


def test_gif_from_yale_faces(data_dir: Path) -> None:
    path = data_dir / "yalefaces" / "subject01.normal"
    decoded = decode(path.read_bytes())
    assert decoded.format == "GIF"
    assert decoded.rgb.shape == (243, 320, 3)
    expected = np.asarray(Image.open(path).convert("RGB"))
    np.testing.assert_array_equal(decoded.rgb, expected)


# --- orientation and modes -------------------------------------------------------------------------------


def test_exif_orientation_6_is_applied() -> None:
    rgb = quadrants(64, 32)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned; display rotated 90 degrees clockwise
    decoded = decode(encode(Image.fromarray(rgb), "JPEG", quality=95, exif=exif.tobytes()))
    assert decoded.rgb.shape == (64, 32, 3)  # width and height swapped
    expected = np.rot90(rgb, k=-1)  # clockwise
    diff = np.abs(decoded.rgb.astype(int) - expected.astype(int))
    assert np.median(diff) <= 4
    # The top-left block (red) went to the top-right corner.
    assert decoded.rgb[4, 28, 0] > 200 and decoded.rgb[4, 28, 1] < 60


def test_exif_orientation_1_leaves_pixels_alone() -> None:
    rgb = quadrants(64, 32)
    exif = Image.Exif()
    exif[0x0112] = 1
    decoded = decode(encode(Image.fromarray(rgb), "JPEG", quality=95, exif=exif.tobytes()))
    assert decoded.rgb.shape == rgb.shape


def test_grey_l_png() -> None:
    grey = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (20, 1))
    decoded = decode(encode(Image.fromarray(grey, "L"), "PNG"))
    np.testing.assert_array_equal(decoded.rgb, np.repeat(grey[:, :, None], 3, axis=2))


def test_palette_png() -> None:
    image = Image.fromarray(quadrants()).quantize(colors=4)
    assert image.mode == "P"
    decoded = decode(encode(image, "PNG"))
    np.testing.assert_array_equal(decoded.rgb, np.asarray(image.convert("RGB")))


def test_palette_transparency_becomes_white() -> None:
    image = Image.fromarray(quadrants()).quantize(colors=4)
    transparent_index = image.getpixel((0, 0))
    decoded = decode(encode(image, "PNG", transparency=transparent_index))
    np.testing.assert_array_equal(decoded.rgb[0, 0], [255, 255, 255])
    assert decoded.rgb[40, 60, 2] < 100  # the yellow block stays opaque


def test_rgba_alpha_composited_on_white() -> None:
    rgba = np.zeros((20, 30, 4), dtype=np.uint8)
    rgba[..., :3] = (200, 10, 10)
    rgba[:, :10, 3] = 0  # transparent
    rgba[:, 10:20, 3] = 255  # opaque
    rgba[:, 20:, 3] = 128  # half
    decoded = decode(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    np.testing.assert_array_equal(decoded.rgb[5, 5], [255, 255, 255])
    np.testing.assert_array_equal(decoded.rgb[5, 15], [200, 10, 10])
    half = decoded.rgb[5, 25].astype(int)
    np.testing.assert_allclose(half, [228, 133, 133], atol=2)  # 0.5 * colour + 0.5 * white


def test_la_alpha_composited_on_white() -> None:
    la = np.zeros((20, 20, 2), dtype=np.uint8)
    la[..., 0] = 40
    la[:10, :, 1] = 0
    la[10:, :, 1] = 255
    decoded = decode(encode(Image.fromarray(la, "LA"), "PNG"))
    np.testing.assert_array_equal(decoded.rgb[2, 2], [255, 255, 255])
    np.testing.assert_array_equal(decoded.rgb[15, 2], [40, 40, 40])


def test_cmyk_jpeg() -> None:
    cmyk = Image.new("CMYK", (32, 32), (0, 0, 0, 0))  # no ink: white
    cmyk.paste((255, 0, 0, 0), (0, 0, 16, 32))  # cyan ink on the left half
    data = encode(cmyk, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    decoded = decode(data)
    assert decoded.rgb.shape == (32, 32, 3)
    np.testing.assert_allclose(decoded.rgb[16, 28].astype(int), [255, 255, 255], atol=6)
    np.testing.assert_allclose(decoded.rgb[16, 4].astype(int), [0, 255, 255], atol=6)


def test_16_bit_png_scaled_to_8_bit() -> None:
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16).repeat(16, axis=0).repeat(4, axis=1)
    data = encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    decoded = decode(data)
    assert decoded.rgb.dtype == np.uint8
    np.testing.assert_array_equal(decoded.rgb[0, ::4, 0], [0, 1, 128, 255])
    np.testing.assert_array_equal(decoded.rgb[..., 0], decoded.rgb[..., 2])


def test_dark_16_bit_png_stays_dark() -> None:
    """A 16-bit image is on a 0..65535 scale even when its brightest pixel is below 256."""
    values = np.array([[0, 128, 255]], dtype=np.uint16).repeat(16, axis=0).repeat(6, axis=1)
    decoded = decode(encode(Image.fromarray(values), "PNG"))
    np.testing.assert_array_equal(decoded.rgb[0, ::6, 0], [0, 0, 1])


def test_float_tiff_in_unit_range() -> None:
    values = np.tile(np.linspace(0.0, 1.0, 32, dtype=np.float32), (16, 1))
    decoded = decode(encode(Image.fromarray(values, "F"), "TIFF"))
    assert decoded.rgb.dtype == np.uint8
    np.testing.assert_array_equal(decoded.rgb[0, [0, -1], 1], [0, 255])
    assert np.all(np.diff(decoded.rgb[0, :, 1].astype(int)) >= 0)


# --- every Pillow mode -------------------------------------------------------------------------------------

GREY_RAMP = np.tile(np.linspace(0, 255, 64), (48, 1))  # dark on the left, bright on the right


def grey_ramp(mode: str) -> Image.Image:
    """The ramp in ``mode``; 16-bit modes hold it on their 0..65535 scale (``convert`` would clip it to 255)."""
    if mode.startswith("I;16"):
        dtype = {"I;16B": ">u2", "I;16N": "=u2"}.get(mode, "<u2")
        return Image.frombytes(mode, (64, 48), (GREY_RAMP * 257).astype(dtype).tobytes())
    return Image.fromarray(np.repeat(GREY_RAMP.astype(np.uint8)[:, :, None], 3, axis=2)).convert(mode)


def _writable(mode: str, fmt: str) -> bool:
    try:
        encode(grey_ramp(mode), fmt)
    except (OSError, ValueError):  # Pillow: cannot write this mode in this format
        return False
    return True


# Every (mode, accepted format) pair Pillow can write, found by trying: the test follows Pillow's own list.
WRITABLE = [(mode, fmt) for mode in Image.MODES for fmt in sorted(ACCEPTED_FORMATS) if _writable(mode, fmt)]
# Pillow reads it (TIFF with associated alpha) but writes it in no format; made with tifffile below.
READ_ONLY_MODES = {"La"}


def test_every_pillow_mode_is_written_somewhere() -> None:
    assert {mode for mode, _ in WRITABLE} | READ_ONLY_MODES == set(Image.MODES)


@pytest.mark.parametrize(("mode", "fmt"), WRITABLE)
def test_every_pillow_mode_decodes_to_grey_rgb(mode: str, fmt: str) -> None:
    decoded = decode(encode(grey_ramp(mode), fmt))
    rgb = decoded.rgb.astype(int)
    assert decoded.rgb.dtype == np.uint8 and decoded.rgb.shape == (48, 64, 3) and decoded.rgb.flags["C_CONTIGUOUS"]
    assert np.abs(rgb - rgb.mean(axis=2, keepdims=True)).max() <= 1  # grey in, grey out
    if mode.startswith("I;16") and fmt in ("GIF", "WEBP"):
        return  # these 8-bit writers clip 16-bit values to 255: the file holds no ramp to compare
    left, right = rgb[:, :16].mean(), rgb[:, -16:].mean()
    assert left < 40 and right > 215


def test_grey_with_associated_alpha_tiff_is_composited_on_white() -> None:
    """Pillow reads a grey TIFF with associated (premultiplied) alpha as mode La, which it cannot convert."""
    stored = np.zeros((20, 24, 2), dtype=np.uint8)
    stored[:, :8] = (0, 0)  # transparent
    stored[:, 8:16] = (40, 255)  # opaque grey 40
    stored[:, 16:] = (20, 128)  # grey 40 at half alpha, premultiplied: 40 * 128 / 255 ~ 20
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, stored, photometric="minisblack", extrasamples=["assocalpha"])
    data = buffer.getvalue()
    assert Image.open(io.BytesIO(data)).mode == "La"
    decoded = decode(data)
    np.testing.assert_array_equal(decoded.rgb[5, 2], [255, 255, 255])
    np.testing.assert_array_equal(decoded.rgb[5, 10], [40, 40, 40])
    np.testing.assert_array_equal(decoded.rgb[5, 20], [147, 147, 147])  # 20 + 255 - 128 = 0.5 * 40 + 0.5 * 255


def test_a_mode_that_cannot_become_rgb_is_a_typed_error(monkeypatch) -> None:
    """Whatever mode a reader returns, an unconvertible one is a per-image 4xx, not a server error."""

    def refuse(self: Image.Image, mode: str | None = None, *args, **kwargs) -> Image.Image:
        raise ValueError(f"conversion from {self.mode} to {mode} not supported")

    data = encode(Image.fromarray(quadrants()).convert("YCbCr"), "TIFF")
    monkeypatch.setattr(Image.Image, "convert", refuse)
    with pytest.raises(BadImage) as info:
        decode(data)
    assert info.value.code == "unsupported_image_mode" and info.value.status == 400
    assert "YCbCr" in info.value.message and "conversion" not in info.value.message


# --- limits and bad input --------------------------------------------------------------------------------


def test_empty_bytes() -> None:
    with pytest.raises(BadImage) as info:
        decode(b"")
    assert info.value.code == "empty_image" and info.value.status == 400


def test_not_an_image() -> None:
    with pytest.raises(BadImage) as info:
        decode(b"hello, this is plain text and not a picture" * 10)
    assert info.value.code == "not_an_image"


def test_truncated_jpeg(samples: Path) -> None:
    data = (samples / "obama.jpg").read_bytes()
    with pytest.raises(BadImage) as info:
        decode(data[: len(data) // 2])
    assert info.value.code == "truncated_image" and info.value.status == 400


@pytest.fixture(scope="module")
def photo(samples: Path) -> Image.Image:
    return Image.open(samples / "obama.jpg").convert("RGB")


def closed_early(data: bytes, fraction: float) -> bytes:
    """The first ``fraction`` of a JPEG, then an end-of-image marker: libjpeg decodes it without an error."""
    return data[: int(len(data) * fraction)] + b"\xff\xd9"


def assert_truncated(data: bytes, **overrides: int) -> None:
    with pytest.raises(BadImage) as info:
        decode(data, **overrides)
    assert info.value.code == "truncated_image" and info.value.status == 400
    assert info.value.message == "image data ends early: the file is truncated"


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")  # Pillow, reading a cut TIFF's header
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
@pytest.mark.parametrize(
    ("fmt", "params"),
    [
        ("JPEG", {"quality": 90}),
        ("PNG", {}),
        ("WEBP", {"quality": 90}),
        ("WEBP", {"lossless": True}),
        ("TIFF", {}),
        ("TIFF", {"compression": "tiff_lzw"}),
        ("GIF", {}),
        ("BMP", {}),
        ("PPM", {}),
    ],
)
def test_data_cut_short_is_truncated_image(photo: Image.Image, fmt: str, params: dict, fraction: float) -> None:
    data = encode(photo.reduce(4), fmt, **params)  # a quarter of the size: lossless WebP is slow to write
    assert_truncated(data[: int(len(data) * fraction)])


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.9, 0.99])
@pytest.mark.parametrize("subsampling", [0, 1, 2])  # 4:4:4, 4:2:2, 4:2:0
def test_jpeg_closed_with_an_end_marker_after_part_of_its_data(
    photo: Image.Image, subsampling: int, fraction: float
) -> None:
    assert_truncated(closed_early(encode(photo, "JPEG", quality=90, subsampling=subsampling), fraction))


@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.5])  # within the first (DC) scan, then within later ones
def test_progressive_jpeg_closed_before_its_last_scans(photo: Image.Image, fraction: float) -> None:
    assert_truncated(closed_early(encode(photo, "JPEG", quality=90, progressive=True), fraction))


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_grey_and_cmyk_jpeg_closed_early(photo: Image.Image, mode: str) -> None:
    assert_truncated(closed_early(encode(photo.convert(mode), "JPEG", quality=90), 0.5))


def test_mpo_whose_first_frame_is_closed_early(photo: Image.Image) -> None:
    data = encode(photo, "MPO", save_all=True, append_images=[photo.rotate(90)], quality=90)
    assert decode(data).format == "MPO"
    end = data.index(b"\xff\xd9\xff\xd8")  # first frame's end marker, second frame's start
    assert_truncated(closed_early(data[:end], 0.5) + data[end + 2 :])


def test_reduced_decode_does_not_hide_a_jpeg_closed_early(photo: Image.Image) -> None:
    data = encode(photo.resize((1820, 2274)), "JPEG", quality=90)
    assert decode(data, reduce_to=200).detect_scale == 8
    assert_truncated(closed_early(data, 0.5), reduce_to=200)


@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize(("mode", "colour"), [("RGB", (128, 128, 128)), ("L", 128), ("CMYK", (0, 0, 0, 127))])
def test_a_truly_mid_grey_jpeg_is_not_taken_for_a_truncated_one(
    mode: str, colour: tuple[int, ...] | int, progressive: bool
) -> None:
    """Zero coefficients decode to flat mid-grey: a frame that really is mid-grey must still decode."""
    decoded = decode(encode(Image.new(mode, (200, 150), colour), "JPEG", quality=90, progressive=progressive))
    assert decoded.rgb.shape == (150, 200, 3)
    assert np.isin(decoded.rgb[-8:, -8:], (127, 128)).all()


def test_photo_with_a_mid_grey_bottom_band(photo: Image.Image) -> None:
    rgb = np.asarray(photo).copy()
    rgb[-40:] = 128
    data = encode(Image.fromarray(rgb), "JPEG", quality=90)
    np.testing.assert_array_equal(decode(data).rgb[-8:, -8:], 128)
    assert_truncated(closed_early(data, 0.6))


def test_complete_files_still_decode(photo: Image.Image) -> None:
    photo = photo.reduce(2)
    expected = np.asarray(photo).astype(int)
    jpeg = encode(photo, "JPEG", quality=90)
    for data in (
        jpeg,
        jpeg + b"camera data after the end marker" * 4,
        encode(photo, "JPEG", quality=90, progressive=True),
        encode(photo, "PNG"),
        encode(photo, "WEBP", quality=90),
        encode(photo, "TIFF", compression="tiff_lzw"),
    ):
        assert np.abs(decode(data).rgb.astype(int) - expected).mean() < 3


def test_corrupt_png_is_corrupt_image(photo: Image.Image) -> None:
    data = bytearray(encode(photo.reduce(4), "PNG"))
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the compressed pixels
    with pytest.raises(BadImage) as info:
        decode(bytes(data))
    assert info.value.code == "corrupt_image" and info.value.status == 400
    assert "Error" not in info.value.message


def test_too_many_bytes() -> None:
    data = encode(Image.fromarray(quadrants()), "PNG")
    with pytest.raises(TooLarge) as info:
        decode(data, max_bytes=len(data) - 1)
    assert info.value.code == "image_too_large" and info.value.status == 413
    assert decode(data, max_bytes=len(data)).rgb.shape == (48, 64, 3)


@pytest.mark.parametrize("side", [8_000, 30_000])
def test_decompression_bomb_refused_from_header(side: int) -> None:
    """8000^2 is over our limit but under Pillow's; 30000^2 is over both. Neither may be decoded."""
    data = png_header_only(side, side)
    assert len(data) < 200
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge) as info:
            decode(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.code == "too_many_pixels"
    assert peak < 5 * 1024 * 1024  # decoding even 8000^2 grey pixels would take 64 MB
    # The message names the service's limit, never Pillow's own (178956970 pixels) or its wording.
    assert str(LIMITS["max_pixels"]) in info.value.message
    assert "178956970" not in info.value.message and "bomb" not in info.value.message.lower()


def test_max_pixels_setting() -> None:
    data = encode(Image.fromarray(quadrants(64, 48)), "PNG")
    with pytest.raises(TooLarge) as info:
        decode(data, max_pixels=64 * 48 - 1)
    assert info.value.code == "too_many_pixels"


@pytest.mark.parametrize("size", [(1, 1), (15, 200)])
def test_image_too_small(size: tuple[int, int]) -> None:
    with pytest.raises(BadImage) as info:
        decode(encode(Image.new("RGB", size), "PNG"))
    assert info.value.code == "image_too_small"


@pytest.mark.parametrize("fmt", ["ICO", "EPS", "TGA"])
def test_unsupported_format(fmt: str) -> None:
    data = encode(Image.fromarray(quadrants(32, 32)), fmt)
    with pytest.raises(BadImage) as info:
        decode(data)
    assert info.value.code == "unsupported_image_format"
    assert fmt in info.value.message


# --- reduced decode for the detector ---------------------------------------------------------------------


@pytest.mark.parametrize(("reduce_to", "scale"), [(320, 2), (100, 8)])
def test_large_jpeg_also_decoded_reduced(samples: Path, reduce_to: int, scale: int) -> None:
    decoded = decode((samples / "obama.jpg").read_bytes(), reduce_to=reduce_to)
    assert decoded.rgb.shape == (1137, 910, 3)  # alignment still gets the full frame
    assert decoded.detect_scale == scale and decoded.detect_rgb is not None
    reduced = decoded.detect_rgb
    assert reduced.dtype == np.uint8 and reduced.flags["C_CONTIGUOUS"]
    assert max(reduced.shape[:2]) >= reduce_to
    assert abs(reduced.shape[0] * scale - 1137) < scale and abs(reduced.shape[1] * scale - 910) < scale
    # The same picture: close to an area-averaged down-scale of the full decode.
    expected = cv2.resize(decoded.rgb, (reduced.shape[1], reduced.shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(reduced.astype(int) - expected.astype(int)).mean() < 6


def test_no_reduced_decode_when_not_worth_it(samples: Path) -> None:
    jpeg = (samples / "obama.jpg").read_bytes()
    assert decode(jpeg, reduce_to=640).detect_rgb is None  # 1137 px is less than twice 640
    assert decode(jpeg).detect_rgb is None and decode(jpeg).detect_scale == 1
    png = encode(Image.fromarray(np.zeros((400, 600, 3), dtype=np.uint8)), "PNG")
    assert decode(png, reduce_to=100).detect_rgb is None  # only JPEG decodes at reduced scale for free


def test_reduced_decode_follows_exif_orientation() -> None:
    rgb = np.kron(quadrants(8, 4), np.ones((64, 64, 1), dtype=np.uint8))  # 512 x 256, four flat blocks
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode(encode(Image.fromarray(rgb), "JPEG", quality=95, exif=exif.tobytes()), reduce_to=64)
    assert decoded.rgb.shape == (512, 256, 3)
    assert decoded.detect_rgb is not None
    scale = decoded.detect_scale
    assert decoded.detect_rgb.shape == (512 // scale, 256 // scale, 3)
    assert decoded.detect_rgb[2, -3, 0] > 200 and decoded.detect_rgb[2, -3, 1] < 60  # red went top-right


@pytest.mark.parametrize(("mode", "colour"), [("CMYK", (255, 0, 0, 0)), ("L", 90), ("RGB", (10, 200, 30))])
def test_reduced_decode_handles_jpeg_modes(mode: str, colour: tuple[int, ...] | int) -> None:
    decoded = decode(encode(Image.new(mode, (800, 600), colour), "JPEG", quality=95), reduce_to=200)
    assert decoded.detect_rgb is not None and decoded.detect_rgb.shape == (150, 200, 3)
    assert decoded.detect_scale == 4
    np.testing.assert_allclose(decoded.detect_rgb[75, 100].astype(int), decoded.rgb[300, 400].astype(int), atol=4)
