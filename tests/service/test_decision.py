"""service.decision: each rejection reason on its own, their combinations, and the image-level verdict."""

from __future__ import annotations

import pytest

from service.decision import NOT_ASSESSED, FaceFacts, Policy, decide_face, decide_image

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
