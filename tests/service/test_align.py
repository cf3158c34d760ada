"""service.align: crops land on the ArcFace template; out_of_frame measures how much of a crop is padding."""

from __future__ import annotations

import asyncio
from pathlib import Path

import cv2
import numpy as np
import pytest
from insightface.utils.face_align import arcface_dst

from service.align import AlignedFace, align, crop_magnification, network_crops, template_scale
from service.backends.onnxruntime import OnnxRuntimeBackend
from service.decode import decode_image
from service.detect import DETECTOR, DetectorTensors, detect
from service.registry import Preprocess, Registry
from service.settings import Settings
from service.timing import Timings

COLOURS = np.array([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)], dtype=np.uint8)


def similarity(points: np.ndarray, scale: float, degrees: float, shift: tuple[float, float]) -> np.ndarray:
    angle = np.deg2rad(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return points @ (scale * rotation).T + np.asarray(shift)


def mapped(face: AlignedFace, landmarks: np.ndarray) -> np.ndarray:
    return np.hstack([landmarks, np.ones((len(landmarks), 1))]) @ face.transform.T


@pytest.fixture(scope="module")
def obama(samples: Path) -> tuple[np.ndarray, np.ndarray]:
    """The sample portrait and its detected landmarks (real detector, loaded once)."""
    settings = Settings()
    registry = Registry(settings.models_dir)
    backend = OnnxRuntimeBackend(registry, settings)
    backend.load_sync([DETECTOR])
    data = (samples / "obama.jpg").read_bytes()
    rgb = decode_image(data, max_bytes=10**8, max_pixels=10**8, min_side=16).rgb
    tensors = DetectorTensors.from_card(registry[DETECTOR])
    faces = asyncio.run(detect(backend, tensors, rgb, Timings(), max_side=640, threshold=0.5, iou_threshold=0.3))
    asyncio.run(backend.close())
    assert len(faces) == 1
    return rgb, faces[0].landmarks


def test_exact_similarity_lands_on_the_template() -> None:
    """Landmarks that are a rotated, scaled, shifted template map back onto it and show up there in the crop."""
    landmarks = similarity(arcface_dst.astype(np.float64), 2.5, 12.0, (90.0, 60.0))
    frame = np.full((400, 400, 3), 128, dtype=np.uint8)
    for (x, y), colour in zip(landmarks, COLOURS, strict=True):
        cv2.circle(frame, (round(x), round(y)), 8, tuple(int(c) for c in colour), -1)
    face = align(frame, landmarks)
    assert face.crop.shape == (112, 112, 3) and face.crop.dtype == np.uint8
    assert face.transform.shape == (2, 3)
    np.testing.assert_allclose(mapped(face, landmarks), arcface_dst, atol=0.01)
    for (x, y), colour in zip(arcface_dst, COLOURS, strict=True):
        np.testing.assert_allclose(face.crop[round(y), round(x)].astype(int), colour.astype(int), atol=10)
    assert face.out_of_frame == 0.0


def test_crop_size_224_scales_the_template() -> None:
    landmarks = similarity(arcface_dst.astype(np.float64), 3.0, -5.0, (60.0, 40.0))
    face = align(np.full((500, 500, 3), 90, dtype=np.uint8), landmarks, size=224)
    assert face.crop.shape == (224, 224, 3)
    np.testing.assert_allclose(mapped(face, landmarks), arcface_dst * 2, atol=0.02)


def test_real_face_lands_near_the_template(obama: tuple[np.ndarray, np.ndarray]) -> None:
    rgb, landmarks = obama
    face = align(rgb, landmarks)
    assert face.crop.shape == (112, 112, 3) and face.crop.dtype == np.uint8
    errors = np.linalg.norm(mapped(face, landmarks) - arcface_dst, axis=1)
    # A similarity fit of 5 real points leaves a residual of a pixel or two (expression, pose).
    assert np.sqrt(np.mean(errors**2)) < 2.5
    assert errors.max() < 4.0
    assert face.crop.std() > 20  # a face, not padding


def test_central_face_is_inside_the_frame(obama: tuple[np.ndarray, np.ndarray]) -> None:
    rgb, landmarks = obama
    assert align(rgb, landmarks).out_of_frame == pytest.approx(0.0, abs=0.01)


def test_face_at_the_border_is_out_of_frame(obama: tuple[np.ndarray, np.ndarray]) -> None:
    rgb, landmarks = obama
    eye_mid_x = int(landmarks[:2, 0].mean())
    shares = []
    for cut in (eye_mid_x - 120, eye_mid_x - 40, eye_mid_x):  # the frame's left edge walks into the face
        frame = np.ascontiguousarray(rgb[:, cut:])
        shares.append(align(frame, landmarks - [cut, 0]).out_of_frame)
    assert shares == sorted(shares) and shares[0] < shares[-1]
    assert shares[-1] > 0.3  # cut between the eyes: about half the crop is padding


def test_out_of_frame_agrees_with_the_black_padding(obama: tuple[np.ndarray, np.ndarray]) -> None:
    rgb, landmarks = obama
    eye_mid_x = int(landmarks[:2, 0].mean())
    frame = np.ascontiguousarray(np.maximum(rgb[:, eye_mid_x - 30 :], 1))  # no pure-black pixel in the frame
    face = align(frame, landmarks - [eye_mid_x - 30, 0])
    black = np.all(face.crop == 0, axis=2).mean()
    assert 0.1 < face.out_of_frame < 0.9
    assert abs(face.out_of_frame - black) < 0.06


def test_padded_crop_is_still_assessable(obama: tuple[np.ndarray, np.ndarray]) -> None:
    """Half a face at the frame's edge is scored for what it shows; only an empty crop is not."""
    rgb, landmarks = obama
    eye_mid_x = int(landmarks[:2, 0].mean())
    face = align(np.ascontiguousarray(rgb[:, eye_mid_x:]), landmarks - [eye_mid_x, 0])
    assert face.out_of_frame > 0.3 and face.assessable


@pytest.mark.parametrize(
    "points",
    [
        np.full((5, 2), 50.0),  # every landmark on one pixel
        np.array([[30.0, 40.0], [np.nan, 40.0], [50.0, 60.0], [35.0, 80.0], [65.0, 80.0]]),
    ],
)
def test_degenerate_landmarks_are_not_assessable(points: np.ndarray) -> None:
    face = align(np.full((120, 120, 3), 128, dtype=np.uint8), points)
    assert not face.assessable
    assert face.out_of_frame == 1.0 and face.crop.shape == (112, 112, 3)


def test_crop_wholly_outside_the_frame_is_not_assessable(obama: tuple[np.ndarray, np.ndarray]) -> None:
    rgb, landmarks = obama
    face = align(rgb, landmarks + np.array([rgb.shape[1] * 3, 0]))
    assert face.out_of_frame == 1.0 and not face.assessable


def test_face_box_crop_zooms_the_template_out() -> None:
    """``face_box``: the ArcFace similarity, zoomed out by ``crop_scale`` about the crop's centre."""
    landmarks = similarity(arcface_dst.astype(np.float64), 2.0, 15.0, (150.0, 90.0))
    frame = np.full((500, 500, 3), 60, dtype=np.uint8)
    preprocess = Preprocess(alignment="face_box", crop_size=192, crop_scale=1.5)
    crops, transforms = network_crops(frame, landmarks, preprocess)
    assert crops.shape == (1, 192, 192, 3) and transforms.shape == (1, 2, 3)
    expected = (arcface_dst - 56) / 1.5 * (192 / 112) + 96
    np.testing.assert_allclose(landmarks @ transforms[0][:, :2].T + transforms[0][:, 2], expected, atol=0.02)


def test_eye_crops_are_centred_on_each_eye() -> None:
    landmarks = similarity(arcface_dst.astype(np.float64), 2.5, -10.0, (100.0, 150.0))
    frame = np.zeros((600, 600, 3), dtype=np.uint8)
    for x, y in landmarks[:2]:
        cv2.circle(frame, (round(x), round(y)), 6, (255, 255, 255), -1)
    crops, transforms = network_crops(frame, landmarks, Preprocess(alignment="eyes", crop_size=64, crop_scale=1.0))
    assert crops.shape == (2, 64, 64, 3)
    distance = np.linalg.norm(landmarks[1] - landmarks[0])
    for eye, (crop, transform) in enumerate(zip(crops, transforms, strict=True)):
        np.testing.assert_allclose(landmarks[eye] @ transform[:, :2].T + transform[:, 2], (32, 32), atol=0.02)
        # side = crop_scale inter-eye distances: the other eye sits on the crop's edge, 64 pixels away
        other = landmarks[1 - eye] @ transform[:, :2].T + transform[:, 2]
        assert abs(np.linalg.norm(other - 32) - 64) < 0.1 and np.isclose(
            np.linalg.det(transform[:, :2]), (64 / distance) ** 2
        )
        assert crop[32, 32].min() == 255 and crop[2, 2].max() == 0  # the eye's disc in the middle


def test_frame_and_arcface_crops(obama: tuple[np.ndarray, np.ndarray]) -> None:
    rgb, landmarks = obama
    frames, transforms = network_crops(rgb, landmarks, Preprocess(alignment="frame", crop_size=256))
    assert frames.shape == (1, 256, 256, 3)
    corner = np.array([rgb.shape[1], rgb.shape[0]]) @ transforms[0][:, :2].T + transforms[0][:, 2]
    np.testing.assert_allclose(corner, (256, 256))
    crops, transforms = network_crops(rgb, landmarks, Preprocess(crop_size=64))  # ArcFace: at 112, resized later
    face = align(rgb, landmarks)
    np.testing.assert_array_equal(crops[0], face.crop)
    np.testing.assert_array_equal(transforms[0], face.transform)
    with pytest.raises(ValueError, match="no crop"):
        network_crops(rgb, landmarks, Preprocess(alignment="none"))


# --- crops from a frame decoded at reduced scale, and how much detail a frame holds ------------------------------


@pytest.mark.parametrize("scale", [2, 4])
def test_a_face_aligned_from_a_reduced_frame_keeps_frame_pixels(scale: int) -> None:
    """The same face, drawn in a frame and in that frame at 1/scale: the crop and the transform (in frame pixels)
    agree."""
    landmarks = similarity(arcface_dst.astype(np.float64), 8.0, 10.0, (900.0, 700.0))
    frame = np.zeros((1600, 2000, 3), np.uint8)
    for colour, (x, y) in zip(COLOURS, landmarks, strict=True):
        cv2.circle(frame, (round(x), round(y)), 40, tuple(int(c) for c in colour), -1)
    small = cv2.resize(frame, (2000 // scale, 1600 // scale), interpolation=cv2.INTER_AREA)
    full, reduced = align(frame, landmarks), align(small, landmarks, scale=scale)
    np.testing.assert_allclose(reduced.transform, full.transform, atol=1e-6)
    assert np.abs(reduced.crop.astype(int) - full.crop.astype(int)).mean() < 3.0
    np.testing.assert_allclose(mapped(reduced, landmarks), arcface_dst, atol=1e-3)


def test_template_scale_is_frame_pixels_per_template_pixel() -> None:
    landmarks = similarity(arcface_dst.astype(np.float64), 3.5, 25.0, (400.0, 300.0))
    assert template_scale(landmarks) == pytest.approx(3.5, rel=1e-4)
    assert template_scale(np.zeros((5, 2))) == 0.0 and template_scale(np.full((5, 2), np.nan)) == 0.0


def test_crop_magnification_of_each_alignment() -> None:
    eye_distance = float(np.linalg.norm(arcface_dst[1] - arcface_dst[0]))
    assert crop_magnification(Preprocess(alignment="arcface", crop_size=224)) == 1.0  # cut at 112, resized
    assert crop_magnification(Preprocess(alignment="face_box", crop_size=192, crop_scale=1.5)) == pytest.approx(
        192 / 168
    )
    assert crop_magnification(Preprocess(alignment="eyes", crop_size=64, crop_scale=1.05)) == pytest.approx(
        64 / (1.05 * eye_distance)
    )
    assert crop_magnification(Preprocess(alignment="frame", crop_size=256)) == 0.0
