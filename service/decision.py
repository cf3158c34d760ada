"""Faces + scores + policy -> accept/reject with machine-readable reasons."""

from __future__ import annotations

from dataclasses import dataclass

NOT_ASSESSED = -1.0


@dataclass(frozen=True)
class Policy:
    """What a capture must satisfy; per-request options override the configured defaults."""

    threshold: float
    min_face_size: float
    single_face: bool
    max_out_of_frame: float


@dataclass(frozen=True)
class FaceFacts:
    """What the decision looks at for one face."""

    score: float
    inter_eye_distance: float
    out_of_frame: float


def decide_face(facts: FaceFacts, policy: Policy, faces_in_image: int) -> list[str]:
    """Reasons to reject this face; an empty list means accept."""
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
    return reasons


def decide_image(face_reasons: list[list[str]], detected: int, policy: Policy) -> list[str]:
    """Image-level reasons: the capture is accepted when its primary (largest) face is."""
    if not face_reasons:
        return ["no_face"]
    if policy.single_face and detected > 1:
        return ["multiple_faces"]
    return face_reasons[0]
