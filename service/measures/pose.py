"""HeadPoseYaw and HeadPoseRoll from the detector's five landmarks: an interim estimate.

OFIQ fits a 3-D face model (3DDFA-V2 mesh) and reports yaw, pitch and roll in degrees, each mapped to
100·cos²(angle); we keep its names, raw scale (degrees) and mapping, but estimate the angles from five 2-D points,
to be replaced by the FaceMesh-based estimate once that network is converted (issue 16, item 1). Pitch is not
estimated: five points do not show it reliably.

- Roll: the angle of the line through the eye centres against the image horizontal (positive: the eye on the
  image right sits lower, i.e. the head leans to the image right). The detector's landmarks lag behind a rotation:
  an LFW photo rotated by 20..30° reads about 70% of the angle (tests/service/test_measures.py), so the roll is
  underestimated, and the enrolment profile's threshold allows for it.
- Yaw: the nose tip's offset from the eyes' midpoint along the eye line, divided by the inter-eye distance (the yaw
  index of fiqa/evaluate/pose.py, signed here). A nose tip about 0.55 inter-eye distances in front of the eye
  plane moves by 0.55·tan(yaw) of the projected eye distance, so yaw = atan(index / 0.55). The depth ratio is an
  anthropometric average, so the angle is coarse (a few degrees near frontal, worse when turned far).
"""

from __future__ import annotations

import math

import numpy as np

from service.measures.base import FaceView, Measure, MeasureResult, component, not_assessable

# Nose-tip depth in front of the eye plane, in inter-eye distances (average adult anthropometry).
NOSE_DEPTH = 0.55


def _cos2(degrees: float) -> float:
    return component(100.0 * math.cos(math.radians(degrees)) ** 2)


class HeadPoseRoll(Measure):
    name = "HeadPoseRoll"
    raw_scale = "degrees, from the eye line (5-landmark estimate; OFIQ: 3-D mesh)"
    mapping = "100·cos²(roll) (OFIQ)"
    reason = "head_turned"
    needs = frozenset({"landmarks"})

    def _assess(self, view: FaceView) -> MeasureResult:
        dx, dy = (view.landmarks[1] - view.landmarks[0]).tolist()
        if math.hypot(dx, dy) < 1e-6:
            return not_assessable("the eye landmarks coincide")
        roll = math.degrees(math.atan2(dy, dx))
        return MeasureResult(roll, _cos2(roll))


class HeadPoseYaw(Measure):
    name = "HeadPoseYaw"
    raw_scale = "degrees, from the nose offset along the eye line (5-landmark estimate; OFIQ: 3-D mesh)"
    mapping = "100·cos²(yaw) (OFIQ)"
    reason = "head_turned"
    needs = frozenset({"landmarks"})

    def _assess(self, view: FaceView) -> MeasureResult:
        left, right, nose = view.landmarks[0], view.landmarks[1], view.landmarks[2]
        axis = right - left
        distance = float(np.linalg.norm(axis))
        if distance < 1e-6:
            return not_assessable("the eye landmarks coincide")
        index = float(np.dot(nose - (left + right) / 2.0, axis)) / distance**2
        yaw = math.degrees(math.atan(index / NOSE_DEPTH))
        return MeasureResult(yaw, _cos2(yaw))
