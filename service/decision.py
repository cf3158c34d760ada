"""Faces + scores + component measures + a policy profile -> accept/reject with machine-readable reasons, and per
reason a short hint a capture device can show the person in front of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from service.measures import MEASURES, MeasureResult

NOT_ASSESSED = -1.0

# Per-measure minimum 0..100 components of the named policy profiles. ``access_control`` (the default) refuses only
# captures no gate should accept (a head turned by more than ~60° or rolled by more than ~45°, a face in the dark,
# a smear); ``enrolment`` follows the ICAO / ISO/IEC 39794-5 capture requirements a reference photo must meet:
# frontal within ~10° yaw and ~8° roll (100·cos²), sharp, exposed within range, evenly lit, natural colour, at
# least ~90 px between the eyes, room around the head, one face. ``access_control`` runs no network: its pose is the
# coarse five-landmark estimate; ``enrolment`` reads yaw and roll off FaceMesh's 3-D mesh (service/measures/pose.py).
# HeadPosePitch is served but checked by neither: it moves with the head (it agrees with a landmark cue on ORL's
# nodding heads and falls as a photo's plane is turned, reports/measures.md), but no labelled pitch here fixes its
# zero or its scale, which a threshold in degrees needs.
# BackgroundUniformity (a plain background, as ICAO asks) is not checked by default either: its segmentation network
# costs about as much CPU per face as the rest of enrolment's networks, over the 8 ms per face the defaults must fit
# (loadtests/bench_measures); a deployment that wants it sets e.g. FIQA_MEASURE_THRESHOLDS='{"BackgroundUniformity":
# 50}' (a mean background gradient under ~4.5 grey levels per pixel) or a request its measure_thresholds.
PROFILES: dict[str, dict[str, float]] = {
    "access_control": {
        "HeadPoseYawFromLandmarks": 25.0,
        "HeadPoseRollFromLandmarks": 50.0,
        "LuminanceMean": 10.0,
        "Sharpness": 10.0,
    },
    "enrolment": {
        "HeadPoseYaw": 97.0,
        "HeadPoseRoll": 98.0,
        "Sharpness": 50.0,
        "UnderExposurePrevention": 90.0,
        "OverExposurePrevention": 90.0,
        "LuminanceMean": 60.0,
        "IlluminationUniformity": 45.0,
        "DynamicRange": 75.0,
        "NaturalColour": 50.0,
        "InterEyeDistance": 70.0,
        "LeftwardCropOfTheFaceImage": 50.0,
        "RightwardCropOfTheFaceImage": 50.0,
        "MarginAboveOfTheFaceImage": 50.0,
        "MarginBelowOfTheFaceImage": 50.0,
        "SingleFacePresent": 50.0,
        "EyesOpen": 50.0,
        "MouthClosed": 50.0,
        "ExpressionNeutrality": 10.0,  # the classifier gives 'neutral' less than 1 chance in 10
    },
}

# What a capture device can tell the person, per reason (every reason the decision gives has one).
HINTS: dict[str, str] = {
    "no_face": "Look at the camera so your whole face is visible.",
    "multiple_faces": "Only one person in front of the camera, please.",
    "face_too_small": "Move closer to the camera.",
    "face_too_close": "Move back a little from the camera.",
    "face_out_of_frame": "Centre your face in the picture.",
    "face_not_centred": "Centre your face in the picture, with space around your head.",
    "quality_not_assessed": "Show your whole face to the camera.",
    "quality_below_threshold": "Look straight at the camera, in even light, and hold still.",
    "head_turned": "Turn your head towards the camera and hold it level.",
    "underexposed": "More light on your face, please.",
    "overexposed": "Less light on your face: step out of direct light or glare.",
    "uneven_lighting": "Light your face evenly: avoid light from one side.",
    "low_contrast": "Avoid flat, hazy or back light on your face.",
    "blurred": "Hold still and make sure the camera is in focus.",
    "unnatural_colour": "Use plain white light, without coloured lamps or filters.",
    "measure_not_assessed": "Show your whole face to the camera.",
    "eyes_closed": "Open your eyes and look at the camera.",
    "mouth_open": "Close your mouth and keep a neutral expression.",
    "expression_not_neutral": "Keep a neutral expression: no smile, mouth closed.",
    "eyes_not_visible": "Open your eyes wide and look at the camera.",
    "background_not_uniform": "Stand in front of a plain wall, with nothing and no one behind you.",
}


@dataclass(frozen=True)
class Policy:
    """What a capture must satisfy; per-request options override the configured defaults. ``measures``: the
    minimum 0..100 component per measure name (the profile's, with overrides applied)."""

    threshold: float
    min_face_size: float
    single_face: bool
    max_out_of_frame: float
    measures: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FaceFacts:
    """What the decision looks at for one face."""

    score: float
    inter_eye_distance: float
    out_of_frame: float
    measures: Mapping[str, MeasureResult] = field(default_factory=dict)


def profile_thresholds(profile: str, *overrides: Mapping[str, float]) -> dict[str, float]:
    """A profile's thresholds with ``overrides`` (settings, then the request) applied in turn; a threshold of 0
    switches a measure's check off."""
    thresholds = dict(PROFILES[profile])
    for override in overrides:
        thresholds.update(override)
    return {name: value for name, value in thresholds.items() if value > 0}


def decide_face(facts: FaceFacts, policy: Policy, faces_in_image: int) -> list[str]:
    """Reasons to reject this face, each once, in a stable order; an empty list means accept."""
    reasons = []
    if policy.single_face and faces_in_image > 1:
        reasons.append("multiple_faces")
    if facts.inter_eye_distance < policy.min_face_size:
        reasons.append("face_too_small")
    if facts.out_of_frame > policy.max_out_of_frame:
        reasons.append("face_out_of_frame")
    if facts.score == NOT_ASSESSED:
        reasons.append("quality_not_assessed")
    elif facts.score < policy.threshold:
        reasons.append("quality_below_threshold")
    for name, minimum in policy.measures.items():
        result = facts.measures[name]
        if not result.assessed:
            reasons.append("measure_not_assessed")
        elif result.score < minimum:
            reasons.append(MEASURES[name].reason_for(result))
    return list(dict.fromkeys(reasons))


def decide_image(face_reasons: list[list[str]], detected: int, policy: Policy) -> list[str]:
    """Image-level reasons: the capture is accepted when its primary (largest) face is."""
    if not face_reasons:
        return ["no_face"]
    if policy.single_face and detected > 1:
        return ["multiple_faces"]
    return face_reasons[0]


def hints(reasons: list[str]) -> list[str]:
    """The hints of ``reasons``, each once, in their order."""
    return list(dict.fromkeys(HINTS[reason] for reason in reasons))
