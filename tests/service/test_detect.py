"""service.detect: letterbox geometry, NMS, heat-map decoding, and the real CenterFace on sample photos."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from service.backends.onnxruntime import OnnxRuntimeBackend
from service.decode import decode_image
from service.detect import (
    DETECTOR,
    STRIDE,
    DetectorTensors,
    Face,
    Heads,
    Letterbox,
    decode,
    detect,
    letterbox,
    nms,
)
from service.registry import CardError, Registry
from service.settings import Settings
from service.timing import Timings


def load_rgb(samples: Path, name: str) -> np.ndarray:
    return decode_image((samples / name).read_bytes(), max_bytes=10**8, max_pixels=10**8, min_side=16).rgb


# --- letterbox -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("height", "width", "max_side"),
    [(1137, 910, 640), (100, 50, 640), (640, 640, 640), (33, 700, 640), (2000, 10, 640), (250, 250, 128)],
)
def test_letterbox_shapes(height: int, width: int, max_side: int) -> None:
    rgb = np.full((height, width, 3), 7, dtype=np.uint8)
    frame = letterbox(rgb, max_side)
    assert frame.blob.dtype == np.float32 and frame.blob.ndim == 4 and frame.blob.shape[:2] == (1, 3)
    blob_h, blob_w = frame.blob.shape[2:]
    assert blob_h % STRIDE == 0 and blob_w % STRIDE == 0
    assert frame.scale == pytest.approx(min(1.0, max_side / max(height, width)))
    assert frame.scale <= 1.0  # never enlarges
    new_h, new_w = max(1, round(height * frame.scale)), max(1, round(width * frame.scale))
    assert blob_h - new_h < STRIDE and blob_w - new_w < STRIDE  # only the padding needed
    assert max(new_h, new_w) <= max_side
    # Content top-left, zero padding bottom/right.
    assert np.all(frame.blob[0, :, :new_h, :new_w] == 7)
    assert np.all(frame.blob[0, :, new_h:, :] == 0) and np.all(frame.blob[0, :, :, new_w:] == 0)


def test_letterbox_keeps_channels_and_pixels_when_small() -> None:
    rgb = np.zeros((64, 96, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 20, 30
    rgb[5, 7] = (200, 100, 50)
    frame = letterbox(rgb, 640)
    assert frame.scale == 1.0 and frame.blob.shape == (1, 3, 64, 96)
    np.testing.assert_array_equal(frame.blob[0, :, 5, 7], [200, 100, 50])
    np.testing.assert_array_equal(frame.blob[0, :, 0, 0], [10, 20, 30])


# --- nms -------------------------------------------------------------------------------------------------


def test_nms_suppresses_overlaps_keeps_best_first() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10.5]], dtype=np.float64)
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    np.testing.assert_array_equal(nms(boxes, scores, 0.5), [3, 2])


def test_nms_high_threshold_keeps_all_in_score_order() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=np.float64)
    scores = np.array([0.5, 0.9, 0.7])
    np.testing.assert_array_equal(nms(boxes, scores, 0.99), [1, 2, 0])


def test_nms_iou_boundary_and_touching_boxes() -> None:
    # IoU of these two is exactly 1/3: suppressed at threshold 1/3, kept just above it.
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [15, 0, 25, 10]], dtype=np.float64)
    scores = np.array([0.9, 0.8, 0.7])
    np.testing.assert_array_equal(nms(boxes, scores, 1 / 3), [0, 2])
    np.testing.assert_array_equal(nms(boxes, scores, 0.34), [0, 1, 2])


def test_nms_empty() -> None:
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.3).size == 0


# --- decode on synthetic heat maps ----------------------------------------------------------------------


def synthetic_outputs(height: int, width: int, peaks: list[tuple[int, int, float, float, float]]) -> Heads:
    """CenterFace-shaped outputs (stride 4) with peaks (row, col, score, box_h, box_w) and fixed landmarks."""
    h, w = height // 4, width // 4
    heat = np.zeros((1, 1, h, w), dtype=np.float32)
    scale = np.zeros((1, 2, h, w), dtype=np.float32)
    offset = np.zeros((1, 2, h, w), dtype=np.float32)
    marks = np.zeros((1, 10, h, w), dtype=np.float32)
    # (dy, dx) per landmark as a fraction of the box, in ArcFace order.
    relative = [(0.35, 0.3), (0.35, 0.7), (0.55, 0.5), (0.75, 0.35), (0.75, 0.65)]
    for row, col, score, box_h, box_w in peaks:
        heat[0, 0, row, col] = score
        scale[0, :, row, col] = np.log([box_h / 4, box_w / 4])
        for k, (dy, dx) in enumerate(relative):
            marks[0, 2 * k, row, col], marks[0, 2 * k + 1, row, col] = dy, dx
    return Heads(heatmap=heat, scale=scale, offset=offset, landmarks=marks)


def test_decode_one_peak_maps_back_to_frame_pixels() -> None:
    frame = Letterbox(blob=np.zeros((1, 3, 128, 128), dtype=np.float32), scale=0.5)  # frame was 256x256
    outputs = synthetic_outputs(128, 128, [(10, 20, 0.9, 40.0, 32.0)])
    faces = decode(outputs, frame, (256, 256), threshold=0.5, iou_threshold=0.3)
    assert len(faces) == 1
    face = faces[0]
    assert isinstance(face, Face) and face.score == pytest.approx(0.9)
    # Centre (20.5 * 4, 10.5 * 4) = (82, 42) in network pixels, box 32 x 40; / 0.5 back to the frame.
    np.testing.assert_allclose(face.box, [132, 44, 196, 124], atol=1e-4)
    x1, y1 = 66.0, 22.0
    expected = np.array(
        [[x1 + dx * 32, y1 + dy * 40] for dy, dx in [(0.35, 0.3), (0.35, 0.7), (0.55, 0.5), (0.75, 0.35), (0.75, 0.65)]]
    )
    np.testing.assert_allclose(face.landmarks, expected / 0.5, atol=1e-4)
    assert face.inter_eye_distance == pytest.approx(0.4 * 32 / 0.5, rel=1e-5)
    assert face.area == pytest.approx(64 * 80, rel=1e-5)


def test_decode_offsets_shift_the_box() -> None:
    frame = Letterbox(blob=np.zeros((1, 3, 64, 64), dtype=np.float32), scale=1.0)
    outputs = synthetic_outputs(64, 64, [(8, 8, 0.8, 16.0, 16.0)])
    outputs.offset[0, 0, 8, 8], outputs.offset[0, 1, 8, 8] = 0.25, -0.5  # dy, dx in cells
    (face,) = decode(outputs, frame, (64, 64), threshold=0.5, iou_threshold=0.3)
    centre = (face.box[:2] + face.box[2:]) / 2
    np.testing.assert_allclose(centre, [(8 - 0.5 + 0.5) * 4, (8 + 0.25 + 0.5) * 4], atol=1e-4)


def test_decode_overlapping_peaks_merge_distant_peaks_stay() -> None:
    frame = Letterbox(blob=np.zeros((1, 3, 128, 128), dtype=np.float32), scale=1.0)
    overlapping = synthetic_outputs(128, 128, [(10, 10, 0.7, 40.0, 32.0), (10, 11, 0.9, 40.0, 32.0)])
    faces = decode(overlapping, frame, (128, 128), threshold=0.5, iou_threshold=0.3)
    assert len(faces) == 1 and faces[0].score == pytest.approx(0.9)
    distant = synthetic_outputs(128, 128, [(8, 8, 0.7, 24.0, 24.0), (24, 24, 0.9, 24.0, 24.0)])
    faces = decode(distant, frame, (128, 128), threshold=0.5, iou_threshold=0.3)
    assert [round(face.score, 3) for face in faces] == [0.9, 0.7]


def test_decode_below_threshold_is_empty() -> None:
    frame = Letterbox(blob=np.zeros((1, 3, 64, 64), dtype=np.float32), scale=1.0)
    outputs = synthetic_outputs(64, 64, [(8, 8, 0.4, 16.0, 16.0)])
    assert decode(outputs, frame, (64, 64), threshold=0.5, iou_threshold=0.3) == []


def test_decode_clips_boxes_to_the_frame() -> None:
    # The letterbox pads 50x60 to 64x64; a huge box at the corner must end inside the real frame.
    frame = Letterbox(blob=np.zeros((1, 3, 64, 64), dtype=np.float32), scale=1.0)
    outputs = synthetic_outputs(64, 64, [(14, 14, 0.9, 60.0, 60.0)])
    (face,) = decode(outputs, frame, (60, 50), threshold=0.5, iou_threshold=0.3)
    assert face.box[0] >= 0 and face.box[1] >= 0
    assert face.box[2] <= 60 and face.box[3] <= 50


# --- tensor names from the card -----------------------------------------------------------------------------

SETTINGS = Settings()
REGISTRY = Registry(SETTINGS.models_dir)
TENSORS = DetectorTensors.from_card(REGISTRY[DETECTOR])


def test_tensor_names_come_from_the_card_roles() -> None:
    card = REGISTRY[DETECTOR]
    by_role = {spec.role: spec.name for spec in card.outputs}
    assert TENSORS.input == card.inputs[0].name
    assert (TENSORS.heatmap, TENSORS.scale, TENSORS.offset, TENSORS.landmarks) == tuple(
        by_role[role] for role in ("heatmap", "scale", "offset", "landmarks")
    )
    arrays = {spec.name: np.full(1, index) for index, spec in enumerate(card.outputs)}
    heads = TENSORS.heads(arrays)
    assert heads.heatmap is arrays[by_role["heatmap"]] and heads.landmarks is arrays[by_role["landmarks"]]


def test_a_detector_card_without_a_role_is_refused() -> None:
    card = REGISTRY[DETECTOR]
    outputs = [spec.model_copy(update={"role": None}) if spec.role == "offset" else spec for spec in card.outputs]
    with pytest.raises(CardError, match="role 'offset'"):
        DetectorTensors.from_card(card.model_copy(update={"outputs": outputs}))


# --- real CenterFace -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backend() -> Iterator[OnnxRuntimeBackend]:
    settings = SETTINGS
    onnx = OnnxRuntimeBackend(REGISTRY, settings)
    onnx.load_sync([DETECTOR])
    yield onnx
    asyncio.run(onnx.close())


def run_detect(backend: OnnxRuntimeBackend, rgb: np.ndarray, timings: Timings | None = None) -> list[Face]:
    return asyncio.run(
        detect(backend, TENSORS, rgb, timings or Timings(), max_side=640, threshold=0.5, iou_threshold=0.3)
    )


def test_obama_one_face_with_plausible_landmarks(backend: OnnxRuntimeBackend, samples: Path) -> None:
    rgb = load_rgb(samples, "obama.jpg")
    timings = Timings()
    faces = run_detect(backend, rgb, timings)
    assert len(faces) == 1
    face = faces[0]
    assert face.score > 0.8
    left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
    assert left_eye[0] < right_eye[0]  # ArcFace order: the image-left eye first
    assert mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
    x1, y1, x2, y2 = face.box
    assert 0 <= x1 < x2 <= rgb.shape[1] and 0 <= y1 < y2 <= rgb.shape[0]
    assert np.all((face.landmarks[:, 0] > x1) & (face.landmarks[:, 0] < x2))
    assert np.all((face.landmarks[:, 1] > y1) & (face.landmarks[:, 1] < y2))
    assert 60 < face.inter_eye_distance < 250  # a portrait on a 910 px wide frame
    assert timings.ms["detect_infer"] > 0


def test_detection_follows_the_frame_scale(backend: OnnxRuntimeBackend, samples: Path) -> None:
    """Landmarks are returned in frame pixels: a half-size copy gives half the coordinates."""
    rgb = load_rgb(samples, "obama.jpg")
    half = np.ascontiguousarray(rgb[::2, ::2])
    (full_face,) = run_detect(backend, rgb)
    (half_face,) = run_detect(backend, half)
    np.testing.assert_allclose(half_face.landmarks * 2, full_face.landmarks, atol=0.05 * full_face.inter_eye_distance)


def test_detection_on_a_reduced_decode_returns_frame_coordinates(backend: OnnxRuntimeBackend, samples: Path) -> None:
    """``upscale`` maps faces found on a 1/2-scale JPEG decode back onto the full frame."""
    data = (samples / "obama.jpg").read_bytes()
    image = decode_image(data, max_bytes=10**8, max_pixels=10**8, min_side=16, reduce_to=320)
    assert image.detect_rgb is not None and image.detect_scale == 2
    (full_face,) = run_detect(backend, image.rgb)
    (reduced_face,) = asyncio.run(
        detect(
            backend,
            TENSORS,
            image.detect_rgb,
            Timings(),
            max_side=640,
            threshold=0.5,
            iou_threshold=0.3,
            upscale=image.detect_scale,
            frame_size=(image.width, image.height),
        )
    )
    tolerance = 0.05 * full_face.inter_eye_distance
    np.testing.assert_allclose(reduced_face.landmarks, full_face.landmarks, atol=tolerance)
    np.testing.assert_allclose(reduced_face.box, full_face.box, atol=3 * tolerance)


def test_t1_has_six_faces(backend: OnnxRuntimeBackend, samples: Path) -> None:
    faces = run_detect(backend, load_rgb(samples, "t1.jpg"))
    assert len(faces) == 6
    assert all(face.score > 0.5 for face in faces)
    scores = [face.score for face in faces]
    assert scores == sorted(scores, reverse=True)
    centres = np.array([(face.box[:2] + face.box[2:]) / 2 for face in faces])
    distances = np.linalg.norm(centres[:, None] - centres[None], axis=2) + np.eye(6) * 1e9
    assert distances.min() > 20  # six distinct people, no duplicate boxes


@pytest.mark.parametrize("name", ["no_face_cat.png", "no_face_coffee.png"])
def test_no_face_images(backend: OnnxRuntimeBackend, samples: Path, name: str) -> None:
    assert run_detect(backend, load_rgb(samples, name)) == []
