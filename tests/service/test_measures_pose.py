"""The head pose from FaceMesh's 3-D mesh (service.measures.pose) on real captures: roll follows a real rotation of
the photo nearly one for one, yaw tells Yale's frontal captures from LFW faces turned aside and flips with a mirrored
photo, yaw and pitch stay put while the photo rolls, and through the gateway a turned capture is rejected under the
enrolment profile with ``head_turned`` and its hint while a frontal one is not; without the mesh, or on a grey frame,
the measures say why instead of failing."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from service.align import align
from service.decision import HINTS
from service.measures import FaceView, MeasureResult, assess
from service.measures.pose import HEAD_POSE, rotation
from service.runtime import Runtime

POSE = [measure.name for measure in HEAD_POSE]
TURNED = ("Allan_Houston", "Atsushi_Sato")  # LFW photos looking well to one side (checked by eye)
FRONTAL = ("subject01.normal", "subject02.normal", "subject05.normal", "subject07.normal")  # Yale


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    runtime = Runtime.from_env(warmup=False)
    yield runtime
    runtime.shutdown()


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _lfw(data_dir: Path, name: str) -> np.ndarray:
    return _rgb(data_dir / "lfw" / "images" / name / f"{name}_0001.jpg")


def _pose(runtime: Runtime, rgb: np.ndarray) -> dict[str, MeasureResult]:
    """The three angles of the largest face, its mesh run as the pipeline runs it."""
    face = max(runtime.detect(rgb), key=lambda found: found.area)
    (networks,) = runtime.measure_networks(POSE, rgb, [face])
    view = FaceView.of(face, align(rgb, face.landmarks), (rgb.shape[1], rgb.shape[0]), [face], networks)
    return assess(POSE, view)


def _rotate(rgb: np.ndarray, angle: float) -> np.ndarray:
    height, width = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)  # counter-clockwise on screen
    return cv2.warpAffine(rgb, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def test_the_rotation_fit_recovers_a_known_turn(runtime: Runtime) -> None:
    """Kabsch on a real-shaped point cloud (the card's template) turned by a known rotation gives it back."""
    template = np.asarray(runtime.registry["facemesh"].parameters["frontal_mesh"])
    turn = cv2.Rodrigues(np.array([0.2, -0.4, 0.1]))[0]
    assert np.allclose(rotation(template, 3.0 * template @ turn.T + 5.0), turn, atol=1e-9)


def test_roll_follows_a_real_rotation_and_yaw_and_pitch_stay(runtime: Runtime, data_dir: Path) -> None:
    """Mesh roll moves with the photo's rotation by 80..120% of the angle (the detector's eye line reads ~70%),
    the component falls, and yaw and pitch move by under 8° up to a 30° roll."""
    for person in ("Aaron_Sorkin", "Abdel_Nasser_Assidi", "Abbas_Kiarostami"):
        rgb = _lfw(data_dir, person)
        upright = _pose(runtime, rgb)
        scores = [upright["HeadPoseRoll"].score]
        for angle in (10.0, 20.0, 30.0):
            rolled = _pose(runtime, _rotate(rgb, angle))
            turned_by = upright["HeadPoseRoll"].raw - rolled["HeadPoseRoll"].raw
            assert 0.8 * angle <= turned_by <= 1.2 * angle, (person, angle, rolled)
            for name in ("HeadPoseYaw", "HeadPosePitch"):
                assert abs(rolled[name].raw - upright[name].raw) < 8.0, (person, angle, name, rolled)
            scores.append(rolled["HeadPoseRoll"].score)
        assert scores == sorted(scores, reverse=True) and scores[-1] < 80


def test_yaw_separates_turned_from_frontal_faces_and_flips_with_the_image(runtime: Runtime, data_dir: Path) -> None:
    frontal = [_pose(runtime, _rgb(data_dir / "yalefaces" / name))["HeadPoseYaw"] for name in FRONTAL]
    turned = [_pose(runtime, _lfw(data_dir, name))["HeadPoseYaw"] for name in TURNED]
    assert max(abs(result.raw) for result in frontal) < 8 and min(abs(result.raw) for result in turned) > 30
    assert min(result.score for result in frontal) >= 97 > 80 > max(result.score for result in turned)
    for name in TURNED:
        rgb = _lfw(data_dir, name)
        mirrored = _pose(runtime, np.ascontiguousarray(rgb[:, ::-1]))["HeadPoseYaw"].raw
        assert mirrored == pytest.approx(-_pose(runtime, rgb)["HeadPoseYaw"].raw, abs=8.0)


def _jpeg(rgb: np.ndarray) -> str:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=95)
    return base64.b64encode(out.getvalue()).decode()


def test_a_turned_capture_is_rejected_for_its_pose_with_the_hint(client, data_dir: Path) -> None:
    """Under the enrolment profile (mesh pose), a real turned face is rejected with head_turned and its hint; Yale's
    frontal captures are not rejected for their pose."""
    options = {"measures": POSE, "profile": "enrolment", "threshold": 0}

    def face(rgb: np.ndarray) -> dict:
        body = {"images": [{"data": _jpeg(rgb)}], "options": options}
        response = client.post("/score", json=body)
        assert response.status_code == 200, response.text
        return response.json()["images"][0]["faces"][0]

    for name in TURNED:
        turned = face(_lfw(data_dir, name))
        assert "head_turned" in turned["reasons"] and HINTS["head_turned"] in turned["hints"], turned
        assert turned["measures"]["HeadPoseYaw"]["score"] < 80
    for name in FRONTAL:
        frontal = face(_rgb(data_dir / "yalefaces" / name))
        assert "head_turned" not in frontal["reasons"], frontal
        assert set(frontal["measures"]) == set(POSE)


def test_without_the_mesh_or_on_a_grey_frame_the_pose_is_not_assessable(runtime: Runtime, data_dir: Path) -> None:
    rgb = _lfw(data_dir, TURNED[0])
    face = max(runtime.detect(rgb), key=lambda found: found.area)
    crop = align(rgb, face.landmarks)
    bare = FaceView.of(face, crop, (250, 250), [face])
    grey = np.full_like(rgb, 128)
    (networks,) = runtime.measure_networks(POSE, grey, [face])  # the real face's landmarks over a grey frame
    flat = FaceView.of(face, align(grey, face.landmarks), (250, 250), [face], networks)
    for view, why in ((bare, "not loaded"), (flat, "finds no face")):
        for name, result in assess(POSE, view).items():
            assert not result.assessed and result.raw == result.score == -1, (name, result)
            assert why in (result.reason or ""), (name, result)
