"""service.decode_scale: a large JPEG is decoded once at the detector's DCT scale, again finer only for faces too
small in it for the crops cut from them, and the pipeline scores such a frame as it scores the full-resolution one."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import numpy as np
import pytest
from insightface.utils.face_align import arcface_dst
from PIL import Image

from loadtests.workload import PORTRAITS, SAMPLES, capture_frame, jpeg, one_face_jpeg
from service.decode_scale import DecodePolicy
from service.detect import Face
from service.errors import BadImage
from service.pipeline import ImageInput, Pipeline
from service.registry import Preprocess
from service.results import ScoredRequest
from service.runtime import Runtime
from service.schemas import ScoreOptions
from service.settings import Settings

BIG = (4000, 3000)
IRIS = Preprocess(alignment="eyes", crop_size=64, crop_scale=1.05)  # the iris network's eye crops (~1.73 px/px)


def policy(**settings: object) -> DecodePolicy:
    return DecodePolicy.from_settings(Settings(warmup=False, **settings))


def face_at(template_scale: float) -> Face:
    """A face whose landmarks are the ArcFace template at ``template_scale`` frame pixels per template pixel."""
    landmarks = arcface_dst.astype(np.float64) * template_scale + 100.0
    return Face(
        box=np.array([100.0, 100.0, 100.0 + 112 * template_scale, 100.0 + 112 * template_scale]),
        landmarks=landmarks,
        score=0.9,
    )


def test_a_large_jpeg_is_decoded_once_at_the_detectors_scale() -> None:
    image = policy(frame_decode="reduced").decode(one_face_jpeg(BIG))
    assert (image.width, image.height, image.scale) == (4000, 3000, 4)
    assert image.rgb.shape == (750, 1000, 3) and image.detect_rgb is None
    assert image.for_detector()[1] == 4


def test_the_full_decode_keeps_the_full_frame_and_the_detectors_copy() -> None:
    image = policy(frame_decode="full").decode(one_face_jpeg(BIG))
    assert image.scale == 1 and image.rgb.shape == (3000, 4000, 3)
    assert image.detect_rgb is not None and image.detect_scale == 4 and image.for_detector()[1] == 4


@pytest.mark.parametrize(
    ("template_scale", "crops", "expected"),
    [
        (10.0, [], None),  # 2.5 px per template px at 1/4: enough for min_detail 1.5
        (4.0, [], 2),  # 1.0 at 1/4, 2.0 at 1/2
        (1.0, [], 1),  # not enough even at full resolution: full resolution
        (10.0, [IRIS], 2),  # the eye crops want 1.5 x 1.73 = 2.6 px per template px
    ],
)
def test_a_face_too_small_for_its_crops_asks_for_the_coarsest_finer_scale_that_suffices(
    template_scale: float, crops: list[Preprocess], expected: int | None
) -> None:
    decoding = policy(frame_decode="reduced", frame_min_detail=1.5)
    image = decoding.decode(one_face_jpeg(BIG))
    assert decoding.finer_scale(image, [face_at(template_scale)], crops) == expected


def test_no_face_or_no_crop_needs_no_finer_decode() -> None:
    decoding = policy(frame_decode="reduced")
    image = decoding.decode(one_face_jpeg(BIG))
    assert decoding.finer_scale(image, []) is None
    degenerate = Face(box=np.zeros(4), landmarks=np.zeros((5, 2)), score=0.9)
    assert decoding.finer_scale(image, [degenerate]) is None


def test_decode_at_gives_the_scale_asked_for() -> None:
    image = policy(frame_decode="reduced").decode_at(one_face_jpeg(BIG), 2)
    assert image.scale == 2 and image.rgb.shape == (1500, 2000, 3) and (image.width, image.height) == BIG


def test_only_jpeg_is_decoded_reduced() -> None:
    with Image.open(SAMPLES / PORTRAITS[0]) as source:
        buffer = io.BytesIO()
        capture_frame(source, (2600, 1950)).save(buffer, "PNG", compress_level=1)
    image = policy(frame_decode="reduced").decode(buffer.getvalue())
    assert image.scale == 1 and image.rgb.shape == (1950, 2600, 3)


def test_exif_orientation_turns_the_reduced_frame_and_its_size() -> None:
    with Image.open(SAMPLES / PORTRAITS[0]) as source:
        frame = capture_frame(source, BIG)
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # turned 90 degrees: the upright image is 3000 wide, 4000 high
    frame.save(buffer, "JPEG", quality=90, exif=exif)
    image = policy(frame_decode="reduced").decode(buffer.getvalue())
    assert (image.width, image.height, image.scale) == (3000, 4000, 4) and image.rgb.shape == (1000, 750, 3)


@pytest.mark.parametrize("end", [b"", b"\xff\xd9"])  # cut, or cut and closed with an end-of-image marker
def test_a_truncated_large_jpeg_is_refused_at_reduced_scale(end: bytes) -> None:
    data = one_face_jpeg(BIG)
    with pytest.raises(BadImage) as info:
        policy(frame_decode="reduced").decode(data[: len(data) // 2] + end)
    assert info.value.code == "truncated_image"


def _score(data: bytes, **settings: object) -> ScoredRequest:
    async def run() -> ScoredRequest:
        async with Runtime(Settings(warmup=False, **settings)) as runtime:
            return await Pipeline(runtime).score([ImageInput(id="big", data=data)], ScoreOptions(measures="all"))

    return asyncio.run(run())


def test_the_pipeline_scores_a_reduced_frame_as_the_full_one(samples: Path) -> None:
    """Same answer in the image's own pixels: size, box, landmarks; the score within the noise of a decode."""
    with Image.open(samples / "obama3.jpg") as source:  # a real photo, so the crop is cut from real detail
        data = jpeg(capture_frame(source, BIG))
    (full,), (reduced,) = (_score(data, frame_decode=mode).images for mode in ("full", "reduced"))
    assert (reduced.width, reduced.height) == (full.width, full.height) == BIG
    (old,), (new,) = full.faces, reduced.faces
    np.testing.assert_allclose(new.face.landmarks, old.face.landmarks, atol=2.0)  # same detector input
    np.testing.assert_allclose(new.aligned.transform, old.aligned.transform, atol=1e-3)
    assert abs(new.quality.score - old.quality.score) < 3.0
    assert new.reasons == old.reasons and set(new.measures) == set(old.measures)
