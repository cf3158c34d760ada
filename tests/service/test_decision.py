"""service.decision: each rejection reason on its own, their combinations, the image-level verdict, the measure
thresholds of the policy profiles and the hints."""

from __future__ import annotations

import pytest

from service.decision import (
    HINTS,
    NOT_ASSESSED,
    PROFILES,
    FaceFacts,
    Policy,
    decide_face,
    decide_image,
    hints,
    profile_thresholds,
)
from service.measures import MEASURES, MeasureResult

POLICY = Policy(threshold=50.0, min_face_size=20.0, single_face=False, max_out_of_frame=0.35)
SINGLE = Policy(threshold=50.0, min_face_size=20.0, single_face=True, max_out_of_frame=0.35)
GOOD = FaceFacts(score=80.0, inter_eye_distance=60.0, out_of_frame=0.0)


def test_good_face_is_accepted() -> None:
    assert decide_face(GOOD, POLICY, faces_in_image=1) == []


def test_threshold_is_inclusive() -> None:
    assert decide_face(FaceFacts(50.0, 60.0, 0.0), POLICY, 1) == []
    assert decide_face(FaceFacts(49.999, 60.0, 0.0), POLICY, 1) == ["quality_below_threshold"]


def test_multiple_faces_only_under_single_face_policy() -> None:
    assert decide_face(GOOD, SINGLE, faces_in_image=2) == ["multiple_faces"]
    assert decide_face(GOOD, SINGLE, faces_in_image=1) == []
    assert decide_face(GOOD, POLICY, faces_in_image=5) == []


def test_face_too_small() -> None:
    assert decide_face(FaceFacts(80.0, 19.9, 0.0), POLICY, 1) == ["face_too_small"]
    assert decide_face(FaceFacts(80.0, 20.0, 0.0), POLICY, 1) == []


def test_face_out_of_frame_is_a_reason_beside_the_quality_verdict() -> None:
    """An out-of-frame face is still scored: both facts are reported, neither hides the other."""
    assert decide_face(FaceFacts(80.0, 60.0, 0.5), POLICY, 1) == ["face_out_of_frame"]
    assert decide_face(FaceFacts(10.0, 60.0, 0.36), POLICY, 1) == ["face_out_of_frame", "quality_below_threshold"]
    assert decide_face(FaceFacts(80.0, 60.0, 0.35), POLICY, 1) == []


def test_quality_not_assessed() -> None:
    assert decide_face(FaceFacts(NOT_ASSESSED, 60.0, 0.0), POLICY, 1) == ["quality_not_assessed"]


def test_reasons_accumulate_in_a_stable_order() -> None:
    facts = FaceFacts(score=10.0, inter_eye_distance=5.0, out_of_frame=0.0)
    assert decide_face(facts, SINGLE, faces_in_image=3) == [
        "multiple_faces",
        "face_too_small",
        "quality_below_threshold",
    ]
    facts = FaceFacts(score=NOT_ASSESSED, inter_eye_distance=5.0, out_of_frame=0.9)
    assert decide_face(facts, SINGLE, faces_in_image=2) == [
        "multiple_faces",
        "face_too_small",
        "face_out_of_frame",
        "quality_not_assessed",
    ]


@pytest.mark.parametrize("threshold", [0.0, 100.0])
def test_threshold_extremes(threshold: float) -> None:
    policy = Policy(threshold=threshold, min_face_size=0.0, single_face=False, max_out_of_frame=1.0)
    accepted = decide_face(FaceFacts(100.0, 0.0, 1.0), policy, 1) == []
    assert accepted
    assert (decide_face(FaceFacts(0.0, 0.0, 0.0), policy, 1) == []) is (threshold == 0.0)


def test_image_without_faces() -> None:
    assert decide_image([], detected=0, policy=POLICY) == ["no_face"]


def test_image_with_several_faces_under_single_face() -> None:
    assert decide_image([[], []], detected=2, policy=SINGLE) == ["multiple_faces"]
    # ``detected`` counts faces before max_faces kept only some of them.
    assert decide_image([[]], detected=3, policy=SINGLE) == ["multiple_faces"]


def test_primary_face_decides_the_image() -> None:
    assert decide_image([[], ["face_too_small"]], detected=2, policy=POLICY) == []
    assert decide_image([["quality_below_threshold"], []], detected=2, policy=POLICY) == ["quality_below_threshold"]
    assert decide_image([["face_out_of_frame"]], detected=1, policy=SINGLE) == ["face_out_of_frame"]


# --- component measures, profiles and hints --------------------------------------------------------------------


def _with_measures(measures: dict[str, MeasureResult], thresholds: dict[str, float]) -> list[str]:
    policy = Policy(50.0, 20.0, False, 0.35, measures=thresholds)
    return decide_face(FaceFacts(80.0, 60.0, 0.0, measures), policy, 1)


def test_a_measure_below_its_threshold_gives_its_reason_once() -> None:
    thresholds = {"HeadPoseYaw": 90.0, "HeadPoseRoll": 90.0, "Sharpness": 50.0}
    turned = MeasureResult(raw=40.0, score=58.0)
    measures = {"HeadPoseYaw": turned, "HeadPoseRoll": turned, "Sharpness": MeasureResult(raw=5.0, score=49.0)}
    assert _with_measures(measures, thresholds) == ["head_turned", "blurred"]
    at_threshold = {**measures, "Sharpness": MeasureResult(raw=50.0, score=50.0)}
    assert _with_measures(at_threshold, thresholds) == ["head_turned"]


def test_two_sided_measures_say_which_side() -> None:
    thresholds = {"LuminanceMean": 60.0, "HeadSize": 50.0}
    dark = {"LuminanceMean": MeasureResult(0.1, 12.0), "HeadSize": MeasureResult(0.1, 1.0)}
    bright = {"LuminanceMean": MeasureResult(0.9, 12.0), "HeadSize": MeasureResult(0.9, 1.0)}
    assert _with_measures(dark, thresholds) == ["underexposed", "face_too_small"]
    assert _with_measures(bright, thresholds) == ["overexposed", "face_too_close"]


def test_a_measure_the_policy_checks_but_cannot_assess_rejects() -> None:
    unknown = MeasureResult(-1.0, -1.0, "too little of the face lies inside the frame")
    assert _with_measures({"Sharpness": unknown}, {"Sharpness": 10.0}) == ["measure_not_assessed"]


def test_profiles_and_overrides() -> None:
    assert profile_thresholds("enrolment") == PROFILES["enrolment"]
    overridden = profile_thresholds("access_control", {"HeadPoseYaw": 90.0}, {"Sharpness": 0.0, "DynamicRange": 70})
    assert overridden["HeadPoseYaw"] == 90.0 and overridden["DynamicRange"] == 70
    assert "Sharpness" not in overridden  # 0 switches a check off
    # the request's override comes last
    assert profile_thresholds("enrolment", {"HeadPoseYaw": 50.0}, {"HeadPoseYaw": 80.0})["HeadPoseYaw"] == 80.0
    # enrolment is at least as strict as access control wherever both check a measure (the mesh pose where access
    # control reads the five-landmark one)
    for name, minimum in PROFILES["access_control"].items():
        assert PROFILES["enrolment"][name.removesuffix("FromLandmarks")] >= minimum


def test_every_reason_has_a_hint() -> None:
    reasons = {"no_face", "multiple_faces", "face_too_small", "face_out_of_frame", "quality_not_assessed"}
    reasons |= {"quality_below_threshold", "measure_not_assessed"}
    for measure in MEASURES.values():
        reasons.add(measure.reason)
        for raw in (0.0, 0.01, 0.5, 1.0, 100.0):
            reasons.add(measure.reason_for(MeasureResult(raw, 0.0)))
    assert reasons <= set(HINTS)
    assert all(name in MEASURES for profile in PROFILES.values() for name in profile)
    assert hints(["underexposed", "face_too_small", "underexposed"]) == [HINTS["underexposed"], HINTS["face_too_small"]]
