"""Component measures through the HTTP API on real photos: multipart with options.measures, the enrolment profile
rejecting a dark, a blurred, a rolled and a turned capture with the right reason and hint, the default profile
leaving a good photo accepted, name checks (422), /v1/models and the rejection counter."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest
from PIL import Image
from prometheus_client import REGISTRY

from service.decision import HINTS, PROFILES
from service.measures import MEASURES

ENROLMENT = {"profile": "enrolment", "measures": "default"}


def _jpeg(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _lfw(data_dir, name: str) -> np.ndarray:
    return np.asarray(Image.open(data_dir / "lfw" / "images" / name / f"{name}_0001.jpg").convert("RGB"))


def _face(client, data: bytes, options: dict) -> dict:
    response = client.post("/score", files={"images": ("photo.jpg", data)}, data={"options": json.dumps(options)})
    assert response.status_code == 200, response.text
    return response.json()["images"][0]["faces"][0]


def test_multipart_measures_all_returns_every_component(client, samples) -> None:
    """The issue's curl: -F images=@photo.jpg -F 'options={"measures":"all"}'."""
    response = client.post(
        "/score",
        files={"images": ("obama.jpg", (samples / "obama.jpg").read_bytes())},
        data={"options": '{"measures":"all"}'},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    face = body["images"][0]["faces"][0]
    assert list(face["measures"]) == list(MEASURES)
    for name, value in face["measures"].items():
        assert 0 <= value["score"] <= 100 and value["reason"] is None, (name, value)
    assert face["measures"]["SingleFacePresent"] == {"raw": 0.0, "score": 100.0, "reason": None}
    assert body["timings_ms"]["measures"] > 0
    assert face["decision"] == "accept" and face["hints"] == []


def test_measures_none_by_default_and_named_ones_on_request(client, samples) -> None:
    data = (samples / "obama.jpg").read_bytes()
    plain = client.post("/score", content=data, headers={"content-type": "image/jpeg"}).json()
    assert plain["images"][0]["faces"][0]["measures"] == {}
    named = client.post(
        "/score?measures=Sharpness,HeadPoseYaw", content=data, headers={"content-type": "image/jpeg"}
    ).json()
    assert list(named["images"][0]["faces"][0]["measures"]) == ["Sharpness", "HeadPoseYaw"]
    default = _face(client, data, {"measures": "default"})
    assert list(default["measures"]) == list(PROFILES["access_control"])


@pytest.mark.parametrize(
    "options",
    [{"measures": ["Sharpness", "NoHeadCoverings"]}, {"measure_thresholds": {"Sharp": 50}}, {"profile": "kiosk"}],
)
def test_unknown_measure_names_and_profiles_are_refused(client, samples, options) -> None:
    data = (samples / "obama.jpg").read_bytes()
    response = client.post("/score", files={"images": ("o.jpg", data)}, data={"options": json.dumps(options)})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_options"


def _dark(rgb: np.ndarray) -> np.ndarray:
    return (255.0 * (rgb / 255.0) ** 3.0).astype(np.uint8)


def _blurred(rgb: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(rgb, (0, 0), 2.0)


def _rolled(rgb: np.ndarray) -> np.ndarray:
    matrix = cv2.getRotationMatrix2D((rgb.shape[1] / 2, rgb.shape[0] / 2), 25.0, 1.0)
    return cv2.warpAffine(rgb, matrix, (rgb.shape[1], rgb.shape[0]), borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize(
    ("person", "transform", "reason"),
    [
        ("Abdel_Nasser_Assidi", _dark, "underexposed"),
        ("Abdel_Nasser_Assidi", _blurred, "blurred"),
        ("Abdel_Nasser_Assidi", _rolled, "head_turned"),
        ("Allan_Houston", None, "head_turned"),  # a real turned face
    ],
)
def test_enrolment_rejects_bad_captures_with_reason_and_hint(client, data_dir, person, transform, reason) -> None:
    rgb = _lfw(data_dir, person)
    original = _face(client, _jpeg(rgb), ENROLMENT)
    face = _face(client, _jpeg(transform(rgb) if transform else rgb), ENROLMENT)
    assert face["decision"] == "reject"
    assert reason in face["reasons"] and HINTS[reason] in face["hints"]
    assert len(face["hints"]) <= len(face["reasons"])
    if transform is not None:
        assert reason not in original["reasons"]  # the transform, not the photo, gave the reason


def test_the_same_capture_passes_access_control_and_fails_enrolment(client, data_dir) -> None:
    rgb = _rolled(_lfw(data_dir, "Abdel_Nasser_Assidi"))
    lenient = _face(client, _jpeg(rgb), {"threshold": 0})
    assert lenient["decision"] == "accept", lenient["reasons"]
    strict = _face(client, _jpeg(rgb), {"threshold": 0, "profile": "enrolment"})
    assert "head_turned" in strict["reasons"]
    # a request may loosen a single check of the profile (0 switches it off)
    loosened = _face(
        client, _jpeg(rgb), {"threshold": 0, "profile": "enrolment", "measure_thresholds": {"HeadPoseRoll": 0}}
    )
    assert "head_turned" not in loosened["reasons"]


def test_profile_setting_applies_without_options(make_client, data_dir) -> None:
    dark = _jpeg(_dark(_lfw(data_dir, "Abdel_Nasser_Assidi")))
    with make_client(profile="enrolment", measure_thresholds={"InterEyeDistance": 0}) as client:
        face = _face(client, dark, {})
        assert "underexposed" in face["reasons"] and "face_too_small" not in face["reasons"]
        assert face["measures"] == {}  # measured for the decision, returned only when asked
        defaults = client.get("/v1/models").json()["decision_defaults"]
        assert defaults["profile"] == "enrolment" and "InterEyeDistance" not in defaults["measure_thresholds"]


def test_bad_input_through_the_api_never_fails(client, data_dir) -> None:
    """A tiny face and a face cut by the border: 200 with values or not-assessable reasons."""
    rgb = _lfw(data_dir, "Abdel_Nasser_Assidi")
    tiny = cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA)
    border = np.ascontiguousarray(rgb[:, 130:])
    for image in (tiny, border):
        response = client.post(
            "/score", files={"images": ("x.jpg", _jpeg(image))}, data={"options": '{"measures":"all"}'}
        )
        assert response.status_code == 200, response.text
        for face in response.json()["images"][0]["faces"]:
            for value in face["measures"].values():
                assert (value["reason"] is None and 0 <= value["score"] <= 100) or value["score"] == -1


def test_models_lists_measures_with_their_mappings(client) -> None:
    body = client.get("/v1/models").json()
    listed = {entry["name"]: entry for entry in body["measures"]}
    assert list(listed) == list(MEASURES)
    assert all(entry["raw_scale"] and entry["mapping"] and entry["reason"] in HINTS for entry in listed.values())
    assert "NoHeadCoverings" in body["measures_not_provided"] and "EyesOpen" not in body["measures_not_provided"]
    assert set(body["profiles"]) == {"access_control", "enrolment"}


def test_rejections_are_counted_by_reason(client, data_dir) -> None:
    def count() -> float:
        value = REGISTRY.get_sample_value("fiqa_decisions_total", {"decision": "reject", "reason": "underexposed"})
        return value or 0.0

    before = count()
    data = _jpeg(_dark(_lfw(data_dir, "Abdel_Nasser_Assidi")))
    response = client.post("/score", files={"images": ("x.jpg", data)}, data={"options": json.dumps(ENROLMENT)})
    faces = response.json()["images"][0]["faces"]
    rejected = sum("underexposed" in face["reasons"] for face in faces)
    assert rejected >= 1 and count() == before + rejected
