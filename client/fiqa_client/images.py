"""What may be sent as an image, and how it becomes a multipart part: a path, bytes, a binary file, or (with the
``arrays`` extra) a numpy array, H x W x 3 RGB or H x W grey uint8, encoded losslessly to PNG. Arrays from OpenCV are
BGR: convert them (``frame[..., ::-1]``) first."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import numpy as np

ImageLike: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes] | np.ndarray"

_SIGNATURES = ((b"\xff\xd8", "image/jpeg"), (b"\x89PNG", "image/png"), (b"GIF8", "image/gif"), (b"BM", "image/bmp"))


def _content_type(data: bytes) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _SIGNATURES if data.startswith(magic)), "application/octet-stream")


def _png(array: Any) -> bytes:
    try:
        from PIL import Image
    except ImportError as exc:  # the arrays extra is not installed
        raise ImportError("numpy arrays need Pillow: pip install 'fiqa-client[arrays]'") from exc
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def image_bytes(image: ImageLike, index: int) -> tuple[str, bytes]:
    """(file name, bytes) of one image; the name is the path's, else its position in the request."""
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        return path.name, path.read_bytes()
    if isinstance(image, (bytes, bytearray, memoryview)):
        return str(index), bytes(image)
    if hasattr(image, "read"):
        return Path(getattr(image, "name", "") or str(index)).name, image.read()
    if hasattr(image, "__array_interface__"):
        return f"{index}.png", _png(image)
    raise TypeError(f"image {index}: {type(image).__name__} is not a path, bytes, a binary file or a numpy array")


def parts(images: tuple[ImageLike, ...]) -> list[tuple[str, tuple[str, bytes, str]]]:
    """The multipart ``images`` parts of a request, read once so that a retry sends the same bytes."""
    if not images:
        raise ValueError("no image given")
    named = [image_bytes(image, index) for index, image in enumerate(images)]
    return [("images", (name, data, _content_type(data))) for name, data in named]
