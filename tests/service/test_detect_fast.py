"""service.detect_fast: the two-pass capture path against the full path on real photos, and when it hands over to it."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from loadtests.workload import capture_frame
from service.backends.onnxruntime import OnnxRuntimeBackend
from service.decode import decode_image
from service.detect import DETECTOR, DetectorTensors, Face, detect
from service.detect_fast import SMALL_FACE_PX, FastDetector, crop_around, detect_fast, iou, needs_full_pass
from service.registry import Registry
from service.runtime import Runtime
from service.settings import Settings
from service.timing import Timings

SETTINGS = Settings(warmup=False)
REGISTRY = Registry(SETTINGS.models_dir)
TENSORS = DetectorTensors.from_card(REGISTRY[DETECTOR])
FAST = FastDetector.from_settings(SETTINGS)  # the served default (loadtests/bench_detector.py chose it)
# How far (mean over the 5 points, in inter-eye distances) the fast path's landmarks may lie from the full path's on
# one photo. CenterFace's landmarks move with the face's size in its input, and the two paths see the face at
# different sizes: this bound lies above the 95th percentile reports/detector.md records on CelebA validation.
CLOSE = 0.15


class Recording(OnnxRuntimeBackend):
    """The real backend, noting the detector input shape of every call."""

    def __init__(self) -> None:
        super().__init__(REGISTRY, SETTINGS)
        self.shapes: list[tuple[int, ...]] = []

    async def infer(self, name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.shapes.append(next(iter(inputs.values())).shape)
        return await super().infer(name, inputs)


@pytest.fixture(scope="module")
def backend() -> Iterator[Recording]:
    recording = Recording()
    recording.load_sync([DETECTOR])
    yield recording
    asyncio.run(recording.close())


def load_rgb(samples: Path, name: str) -> np.ndarray:
    return decode_image((samples / name).read_bytes(), max_bytes=10**8, max_pixels=10**8, min_side=16).rgb


def framed(samples: Path, name: str, size: tuple[int, int], share: float = 0.9) -> np.ndarray:
    """A portrait as a capture frame; ``share`` < 0.9 leaves it smaller in a frame of the same size."""
    with Image.open(samples / name) as source:
        inner = capture_frame(source, (round(size[0] * share / 0.9), round(size[1] * share / 0.9)))
    canvas = Image.new("RGB", size, (118, 122, 126))
    canvas.paste(inner, ((size[0] - inner.width) // 2, (size[1] - inner.height) // 2))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=90)
    return decode_image(buffer.getvalue(), max_bytes=10**8, max_pixels=10**8, min_side=16).rgb


def full_faces(backend: Recording, rgb: np.ndarray) -> list[Face]:
    return asyncio.run(detect(backend, TENSORS, rgb, Timings(), max_side=640, threshold=0.5, iou_threshold=0.3))


def fast_faces(backend: Recording, rgb: np.ndarray, settings: FastDetector = FAST) -> tuple[list[Face], list[int]]:
    """The fast path's faces and the long side of each detector input it ran."""
    backend.shapes.clear()
    faces = asyncio.run(detect_fast(backend, TENSORS, rgb, Timings(), settings))
    return faces, [max(shape[2:]) for shape in backend.shapes]


def landmark_distance(a: Face, b: Face) -> float:
    """Mean distance of the 5 landmarks, in ``b``'s inter-eye distance."""
    return float(np.linalg.norm(a.landmarks - b.landmarks, axis=1).mean() / b.inter_eye_distance)


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("obama.jpg", (640, 480)),
        ("obama2.jpg", (640, 480)),
        ("obama.jpg", (2048, 1536)),
        ("grace_hopper_512x512.jpg", (1280, 720)),
    ],
)
def test_a_capture_frame_gets_the_full_paths_face_from_two_small_passes(
    backend: Recording, samples: Path, name: str, size: tuple[int, int]
) -> None:
    rgb = framed(samples, name, size)
    (reference,) = full_faces(backend, rgb)
    (face,), inputs = fast_faces(backend, rgb)
    assert inputs == [FAST.coarse_side, FAST.refine_side]  # coarse letterbox, one refinement crop: no full pass
    assert iou(face.box, reference.box) > 0.8
    assert landmark_distance(face, reference) < CLOSE
    assert face.score > 0.5


def test_a_photo_as_it_is_gets_the_same_face(backend: Recording, samples: Path) -> None:
    rgb = load_rgb(samples, "grace_hopper_512x512.jpg")
    (reference,) = full_faces(backend, rgb)
    (face,), inputs = fast_faces(backend, rgb)
    assert 640 not in inputs
    assert iou(face.box, reference.box) > 0.8
    assert landmark_distance(face, reference) < CLOSE


@pytest.mark.parametrize("name", ["no_face_cat.png", "no_face_coffee.png"])
def test_no_face_falls_back_to_the_full_pass(backend: Recording, samples: Path, name: str) -> None:
    rgb = load_rgb(samples, name)
    assert max(rgb.shape[:2]) > FAST.coarse_side
    faces, inputs = fast_faces(backend, rgb)
    assert faces == full_faces(backend, rgb) == []
    assert len(inputs) == 2 and inputs[0] == FAST.coarse_side < inputs[1]  # the coarse pass, then the full one


def test_a_small_face_falls_back_to_the_full_pass(backend: Recording, samples: Path) -> None:
    rgb = framed(samples, "obama.jpg", (1280, 960), share=0.18)
    reference = full_faces(backend, rgb)
    faces, inputs = fast_faces(backend, rgb)
    assert len(reference) == 1
    assert reference[0].box[2] - reference[0].box[0] < SMALL_FACE_PX * 1280 / FAST.coarse_side  # as this test means
    assert inputs == [FAST.coarse_side, FAST.full_side]  # coarse pass, then the full one
    assert len(faces) == 1 and np.array_equal(faces[0].landmarks, reference[0].landmarks)


def test_a_group_photo_falls_back_to_the_full_pass(backend: Recording, samples: Path) -> None:
    rgb = load_rgb(samples, "t1.jpg")
    faces, inputs = fast_faces(backend, rgb)
    assert inputs[-1] == 640
    assert len(faces) == len(full_faces(backend, rgb)) == 6


def test_a_frame_no_larger_than_the_coarse_side_takes_one_full_pass(backend: Recording, samples: Path) -> None:
    rgb = load_rgb(samples, "Tom_Hanks_54745.png")  # 112 x 112
    faces, inputs = fast_faces(backend, rgb)
    assert len(inputs) == 1
    assert [f.landmarks.tolist() for f in faces] == [f.landmarks.tolist() for f in full_faces(backend, rgb)]


def test_without_refinement_the_coarse_faces_are_returned(backend: Recording, samples: Path) -> None:
    rgb = framed(samples, "obama.jpg", (640, 480))
    (reference,) = full_faces(backend, rgb)
    (face,), inputs = fast_faces(backend, rgb, FastDetector(320, 0, 640, 0.5, 0.3, 2.0))
    assert inputs == [320]
    assert iou(face.box, reference.box) > 0.7


def test_faces_on_a_reduced_decode_come_back_in_frame_pixels(backend: Recording, samples: Path) -> None:
    rgb = framed(samples, "obama.jpg", (1280, 960))
    half = np.ascontiguousarray(rgb[::2, ::2])
    (face,), _ = fast_faces(backend, rgb)
    backend.shapes.clear()
    (reduced,) = asyncio.run(
        detect_fast(backend, TENSORS, half, Timings(), FAST, upscale=2, frame_size=(rgb.shape[1], rgb.shape[0]))
    )
    assert iou(reduced.box, face.box) > 0.8
    assert landmark_distance(reduced, face) < CLOSE


def test_the_runtime_takes_the_path_its_settings_name(samples: Path) -> None:
    rgb = framed(samples, "obama.jpg", (640, 480))
    fast = Runtime(Settings(warmup=False, detector_mode="fast"))
    full = Runtime(Settings(warmup=False, detector_mode="full"))
    try:
        (fast_face,), (full_face,) = fast.detect(rgb), full.detect(rgb)
    finally:
        fast.shutdown()
        full.shutdown()
    assert not np.array_equal(fast_face.landmarks, full_face.landmarks)  # two different paths ran
    assert landmark_distance(fast_face, full_face) < CLOSE


# --- geometry and policy, without the network ----------------------------------------------------------------


def test_crop_around_a_face_at_the_border_pads_with_zeros() -> None:
    rgb = np.full((100, 200, 3), 200, dtype=np.uint8)
    crop = crop_around(rgb, np.array([0.0, 0.0, 40.0, 50.0]), 64, 2.0)
    assert crop.side == 100 and (crop.x0, crop.y0) == (-30.0, -25.0)  # 2 x the long side, centred on the box
    assert crop_around(rgb, np.array([0.0, 0.0, 40.0, 50.0]), 64, 1.5).side == 75
    assert crop.pixels.shape == (64, 64, 3) and crop.pixels.dtype == np.float32
    assert crop.pixels[0, 0].tolist() == [0, 0, 0]  # outside the frame
    assert crop.pixels[-1, -1].tolist() == [200, 200, 200]  # inside it


def face(side: float) -> Face:
    return Face(box=np.array([10.0, 10.0, 10.0 + side, 10.0 + side]), landmarks=np.zeros((5, 2)), score=0.9)


def test_needs_full_pass_for_no_small_or_many_faces() -> None:
    assert needs_full_pass([], 640, 320)
    assert needs_full_pass([face(0.04 * 640)], 640, 320)
    assert not needs_full_pass([face(0.3 * 640)], 640, 320)
    assert needs_full_pass([face(0.3 * 640)] * 4, 640, 320)
    assert not needs_full_pass([face(0.3 * 640)] * 3, 640, 320)


def test_small_means_small_in_the_coarse_letterbox() -> None:
    """The same face is small for a coarser pass: it holds fewer letterbox pixels there."""
    side = 0.15 * 640  # 48 px in a 320 letterbox, 24 px in a 160 one
    assert not needs_full_pass([face(side)], 640, 320)
    assert needs_full_pass([face(side)], 640, 160)
    assert needs_full_pass([face(SMALL_FACE_PX * 640 / 192 - 1)], 640, 192)
    assert not needs_full_pass([face(SMALL_FACE_PX * 640 / 192 + 1)], 640, 192)
