"""The request mix a capture fleet sends, built in memory from the sample photos (nothing written to disk).

One-face frames of VGA up to 12 MP are made by scaling a portrait into a padded canvas of the target size, so
the face keeps a realistic share of the frame; group photos and no-face frames are the samples re-encoded as JPEG.
"""

from __future__ import annotations

import io
import os
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image

# The read-only face data beside the checkout (as the tests find it); FIQA_SHARED_DATA points elsewhere.
SAMPLES = Path(os.environ.get("FIQA_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) / "samples"
PORTRAITS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "grace_hopper_512x512.jpg")
GROUPS = ("t1.jpg", "sample1.jpg", "sample2.jpg", "sample3.jpg")
NO_FACE = ("no_face_cat.png", "no_face_coffee.png")

# Frame sizes of one-face captures: webcam VGA, HD, Full HD, 5 MP and 12 MP phone/kiosk cameras.
FRAME_SIZES = {
    "face_vga": (640, 480),
    "face_hd": (1280, 720),
    "face_fhd": (1920, 1080),
    "face_5mp": (2592, 1944),
    "face_12mp": (4000, 3000),
}

# Shares of each kind in the realistic mix (sum 1): mostly small one-face captures, some big frames, some groups
# and empty frames.
MIX = {
    "face_vga": 0.30,
    "face_hd": 0.20,
    "face_fhd": 0.15,
    "face_5mp": 0.08,
    "face_12mp": 0.07,
    "group": 0.10,
    "no_face": 0.10,
}
MAPS_SHARE = 0.10  # requests asking for quality maps as PNG


@dataclass(frozen=True)
class Payload:
    """One /score request: a raw JPEG body and its query string."""

    kind: str
    body: bytes
    query: str = ""
    content_type: str = "image/jpeg"

    @property
    def path(self) -> str:
        return "/score" + (f"?{self.query}" if self.query else "")


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def capture_frame(face: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``face`` scaled to 90 % of the height of a ``size`` (width, height) frame (less if it is too wide), centred
    on grey: how a capture device frames one person."""
    width, height = size
    face = face.convert("RGB")
    scale = min(0.9 * height / face.height, width / face.width)
    face = face.resize((max(1, round(face.width * scale)), max(1, round(face.height * scale))), Image.BILINEAR)
    canvas = Image.new("RGB", size, (118, 122, 126))
    canvas.paste(face, ((width - face.width) // 2, (height - face.height) // 2))
    return canvas


@lru_cache(maxsize=64)
def one_face_jpeg(size: tuple[int, int], portrait: str = PORTRAITS[0], quality: int = 90) -> bytes:
    """A ``size`` JPEG holding ``portrait`` as a capture frame (``capture_frame``)."""
    with Image.open(SAMPLES / portrait) as source:
        return jpeg(capture_frame(source, size), quality)


@lru_cache(maxsize=16)
def sample_jpeg(name: str) -> bytes:
    """A sample photo as a JPEG body (PNG samples are re-encoded, JPEG ones sent as they are)."""
    path = SAMPLES / name
    if path.suffix.lower() in (".jpg", ".jpeg"):
        return path.read_bytes()
    with Image.open(path) as image:
        return jpeg(image)


def payload(kind: str, rng: random.Random | None = None, maps: bool = False) -> Payload:
    """One request of ``kind`` (a key of ``MIX``); ``rng`` picks which sample photo it is made from."""
    rng = rng or random.Random(0)
    query = "return_maps=png" if maps else ""
    if kind in FRAME_SIZES:
        body = one_face_jpeg(FRAME_SIZES[kind], rng.choice(PORTRAITS))
    elif kind == "group":
        body = sample_jpeg(rng.choice(GROUPS))
    elif kind == "no_face":
        body = sample_jpeg(rng.choice(NO_FACE))
    else:
        raise ValueError(f"unknown request kind {kind!r}; known: {sorted(MIX)}")
    return Payload(kind=kind, body=body, query=query)


class Mix:
    """A seeded stream of payloads following ``weights`` (kind -> share) with a share asking for maps."""

    def __init__(self, weights: dict[str, float] | None = None, maps_share: float = MAPS_SHARE, seed: int = 0):
        self.weights = dict(weights or MIX)
        self.maps_share = maps_share
        self._rng = random.Random(seed)
        self._kinds = list(self.weights)
        self._shares = [self.weights[kind] for kind in self._kinds]

    def next(self) -> Payload:
        kind = self._rng.choices(self._kinds, self._shares)[0]
        return payload(kind, self._rng, maps=self._rng.random() < self.maps_share)

    def warm(self) -> None:
        """Build every frame once, so encoding cost never lands inside a measurement."""
        for kind in self._kinds:
            for portrait in PORTRAITS if kind in FRAME_SIZES else ():
                one_face_jpeg(FRAME_SIZES[kind], portrait)
        for name in (*GROUPS, *NO_FACE):
            sample_jpeg(name)


def named_mix(name: str, seed: int = 0) -> Mix:
    """``realistic`` (``MIX``) or a single kind (e.g. ``face_vga``) with no maps requests."""
    if name == "realistic":
        return Mix(seed=seed)
    if name not in MIX:
        raise ValueError(f"unknown mix {name!r}; use 'realistic' or one of {sorted(MIX)}")
    return Mix({name: 1.0}, maps_share=0.0, seed=seed)
