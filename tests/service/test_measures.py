"""service.measures on real faces: each measure responds monotonically to its controlled transform of LFW photos,
the five-landmark pose estimate follows a real rotation and real turned faces (the mesh pose: test_measures_pose.py),
and bad input (grey, tiny, cut-off faces, degenerate landmarks) gives values or 'not assessable', never an
exception."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from fiqa.data.runtime import offline_runtime
from service.align import align
from service.detect import Face
from service.measures import MEASURES, NOT_ASSESSABLE, FaceView, MeasureResult, assess

FRONTAL = ("Aaron_Sorkin", "Abdel_Nasser_Assidi", "Abbas_Kiarostami")
TURNED = ("Allan_Houston", "Atsushi_Sato")  # looking well to one side (checked by eye)
Detect = Callable[[np.ndarray], list[Face]]


@pytest.fixture(scope="module")
def detect() -> Iterator[Detect]:
    """The reference (full) detector path, the one the measures were validated with (``fiqa measures-validate``):
    the landmark tests below hold the measures to a real rotation or turn, not to one detector path's lag (the
    served path's agreement with it is ``bench_detector``'s and ``fiqa detector-validity``'s to show)."""
    runtime = offline_runtime(warmup=False)
    yield lambda rgb: sorted(runtime.detect(rgb), key=lambda face: face.area, reverse=True)
    runtime.shutdown()


def _lfw(data_dir: Path, name: str) -> np.ndarray:
    return np.asarray(Image.open(data_dir / "lfw" / "images" / name / f"{name}_0001.jpg").convert("RGB"))


def _view(rgb: np.ndarray, face: Face, boxes: tuple[np.ndarray, ...] = ()) -> FaceView:
    crop = align(rgb, face.landmarks)
    return FaceView(rgb.shape[1], rgb.shape[0], face.box, face.landmarks, crop.crop, crop.transform, boxes)


def _measure(name: str, rgb: np.ndarray, face: Face) -> MeasureResult:
    return MEASURES[name].assess(_view(rgb, face))


def _rotate(rgb: np.ndarray, angle: float) -> np.ndarray:
    """``rgb`` turned counter-clockwise on screen by ``angle`` degrees about its centre."""
    height, width = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    return cv2.warpAffine(rgb, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def _gamma(rgb: np.ndarray, gamma: float) -> np.ndarray:
    return (255.0 * (rgb / 255.0) ** gamma).astype(np.uint8)


def _gain(rgb: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(rgb * gain, 0, 255).astype(np.uint8)


def _contrast(rgb: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(128.0 + (rgb - 128.0) * factor, 0, 255).astype(np.uint8)


def _side_light(rgb: np.ndarray, darkest: float) -> np.ndarray:
    ramp = np.linspace(1.0, darkest, rgb.shape[1])[None, :, None]
    return (rgb * ramp).astype(np.uint8)


def _blue_cast(rgb: np.ndarray, amount: float) -> np.ndarray:
    out = rgb.astype(np.float32)
    out[..., 0] *= 1.0 - amount
    out[..., 2] = np.clip(out[..., 2] * (1.0 + amount), 0, 255)
    return out.astype(np.uint8)


def _blur(rgb: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(rgb, (0, 0), sigma) if sigma else rgb


# measure, photometric transform of the frame, its strengths (mildest first), whether raw rises with strength
PHOTOMETRIC = [
    ("Sharpness", _blur, (0.0, 1.0, 2.0), False),
    ("LuminanceMean", _gamma, (1.0, 2.0, 3.0), False),
    ("UnderExposurePrevention", _gamma, (1.0, 3.0, 8.0), True),
    ("OverExposurePrevention", _gain, (1.0, 2.0, 6.0), True),
    ("DynamicRange", _contrast, (1.0, 0.4, 0.1), False),
    ("LuminanceVariance", _contrast, (1.0, 0.6, 0.3), False),
    ("IlluminationUniformity", _side_light, (1.0, 0.4, 0.1), False),
    ("NaturalColour", _blue_cast, (0.0, 0.3, 0.6), True),
]


@pytest.mark.parametrize(("name", "transform", "strengths", "rises"), PHOTOMETRIC, ids=[p[0] for p in PHOTOMETRIC])
def test_photometric_measures_respond_monotonically(detect, data_dir, name, transform, strengths, rises) -> None:
    """Stronger transform, worse component (and raw in its direction) on each real face; the landmarks are the
    original photo's so only the pixels change."""
    for person in FRONTAL:
        rgb = _lfw(data_dir, person)
        face = detect(rgb)[0]
        results = [_measure(name, transform(rgb, strength), face) for strength in strengths]
        raws = [result.raw for result in results]
        scores = [result.score for result in results]
        assert all(result.assessed for result in results), (person, results)
        assert raws == sorted(raws, reverse=not rises) and raws[0] != raws[-1], (person, raws)
        assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1], (person, scores)


def test_landmark_roll_follows_a_real_rotation(detect, data_dir) -> None:
    """Rotating a real photo by a known angle turns the eye line the same way, by 50..110% of the angle: the
    detector's landmarks lag behind a rotation (they read about 70% of it at 20..30°)."""
    for person in FRONTAL:
        rgb = _lfw(data_dir, person)
        upright = _measure("HeadPoseRollFromLandmarks", rgb, detect(rgb)[0]).raw
        scores = []
        for angle in (10.0, 20.0, 30.0):
            rotated = _rotate(rgb, angle)
            result = _measure("HeadPoseRollFromLandmarks", rotated, detect(rotated)[0])
            assert 0.5 * angle <= upright - result.raw <= 1.1 * angle, (person, angle, result)
            scores.append(result.score)
        assert scores == sorted(scores, reverse=True) and scores[-1] < 90


def test_landmark_yaw_separates_turned_from_frontal_faces_and_flips_with_the_image(detect, data_dir) -> None:
    name = "HeadPoseYawFromLandmarks"
    frontal = [_measure(name, rgb, detect(rgb)[0]) for rgb in (_lfw(data_dir, p) for p in FRONTAL)]
    turned = [_measure(name, rgb, detect(rgb)[0]) for rgb in (_lfw(data_dir, p) for p in TURNED)]
    assert max(abs(r.raw) for r in frontal) < 20 < 30 < min(abs(r.raw) for r in turned)
    assert max(r.score for r in turned) < min(r.score for r in frontal)
    rgb = _lfw(data_dir, TURNED[0])
    mirrored = np.ascontiguousarray(rgb[:, ::-1])
    assert _measure(name, mirrored, detect(mirrored)[0]).raw == pytest.approx(
        -_measure(name, rgb, detect(rgb)[0]).raw, abs=5.0
    )


def test_geometric_measures_follow_the_frame(detect, data_dir) -> None:
    """Inter-eye distance scales with the image; padding the frame shrinks the head's share and widens every
    margin; cutting the frame just beside the eye on the image left leaves too little leftward margin."""
    rgb = _lfw(data_dir, FRONTAL[0])
    face = detect(rgb)[0]
    doubled = cv2.resize(rgb, (500, 500), interpolation=cv2.INTER_CUBIC)
    ied = [_measure("InterEyeDistance", image, detect(image)[0]) for image in (rgb, doubled)]
    assert ied[1].raw == pytest.approx(2 * ied[0].raw, rel=0.08) and ied[1].score > ied[0].score

    padded = cv2.copyMakeBorder(rgb, 125, 125, 125, 125, cv2.BORDER_CONSTANT, value=(128, 128, 128))
    bigger = detect(padded)[0]
    assert _measure("HeadSize", padded, bigger).raw < _measure("HeadSize", rgb, face).raw
    for margin in ("Leftward", "Rightward", "MarginAbove", "MarginBelow"):
        name = next(n for n in MEASURES if n.startswith(margin))
        assert _measure(name, padded, bigger).raw > _measure(name, rgb, face).raw

    left = int(face.landmarks[0, 0] - 0.1 * face.inter_eye_distance)
    cut = np.ascontiguousarray(rgb[:, left:])
    cut_face = detect(cut)[0]
    leftward = _measure("LeftwardCropOfTheFaceImage", cut, cut_face)
    assert leftward.raw < _measure("LeftwardCropOfTheFaceImage", rgb, face).raw and leftward.score < 50


def test_single_face_present_sees_the_second_face(detect, samples) -> None:
    group = np.asarray(Image.open(samples / "t1.jpg").convert("RGB"))
    faces = detect(group)
    boxes = tuple(face.box for face in faces)
    crowded = MEASURES["SingleFacePresent"].assess(_view(group, faces[0], boxes))
    alone = MEASURES["SingleFacePresent"].assess(_view(group, faces[0], boxes[:1]))
    assert 0 < crowded.raw <= 1 and crowded.score < 100
    assert alone.raw == 0 and alone.score == 100


def _assert_values_or_reasons(results: dict[str, MeasureResult]) -> None:
    for name, result in results.items():
        if result.assessed:
            assert 0 <= result.score <= 100 and np.isfinite(result.raw), (name, result)
        else:
            assert result.raw == result.score == NOT_ASSESSABLE and result.reason, (name, result)


def test_bad_input_gives_values_or_reasons_never_exceptions(detect, data_dir) -> None:
    names = list(MEASURES)
    rgb = _lfw(data_dir, FRONTAL[0])
    face = detect(rgb)[0]

    grey = np.full_like(rgb, 128)
    flat = assess(names, _view(grey, face))  # a grey frame under a real face's landmarks
    _assert_values_or_reasons(flat)
    assert flat["Sharpness"].score == 0 and flat["DynamicRange"].raw == 0

    tiny = cv2.resize(rgb, (40, 40), interpolation=cv2.INTER_AREA)
    scale = 40 / 250
    small = Face(face.box * scale, face.landmarks * scale, face.score)
    small_results = assess(names, _view(tiny, small))
    _assert_values_or_reasons(small_results)
    assert small_results["InterEyeDistance"].score < 10

    # a face at the border: the frame cut through the nose, most of the crop padding
    x_nose = int(face.landmarks[2, 0])
    border = np.ascontiguousarray(rgb[:, x_nose:])
    shifted = Face(face.box - [x_nose, 0, x_nose, 0], face.landmarks - [x_nose, 0], face.score)
    at_border = assess(names, _view(border, shifted))
    _assert_values_or_reasons(at_border)
    assert not at_border["IlluminationUniformity"].assessed

    collapsed = Face(face.box, np.repeat(face.landmarks[:1], 5, axis=0), face.score)
    degenerate = assess(names, _view(rgb, collapsed))
    _assert_values_or_reasons(degenerate)
    assert not degenerate["HeadPoseYawFromLandmarks"].assessed and not degenerate["LeftwardCropOfTheFaceImage"].assessed
    assert not degenerate["Sharpness"].assessed  # the crop is empty: no face pixel lies inside the frame
