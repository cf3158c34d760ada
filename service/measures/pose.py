"""HeadPoseYaw, HeadPosePitch and HeadPoseRoll from FaceMesh's 468 3-D points, and a coarse five-landmark yaw and roll
for profiles that run no network.

OFIQ fits a 3-D face model (3DDFA-V2) and reports yaw, pitch and roll in degrees, each mapped to 100·cos²(angle). We
keep its names, raw scale and mapping, and fit instead the rotation that carries a frontal template of the mesh onto
the mesh FaceMesh predicts (Kabsch: SVD of the two point sets' cross-covariance, a rigid orthographic fit with no
camera model). The template is FaceMesh's own mean mesh of frontal captures (``parameters.frontal_mesh`` of
``models/facemesh/card.yaml``, written by ``python -m fiqa frontal-mesh``), turned so that its axes follow the face's
geometry (x along the outer eye corners, y along forehead top -> chin) and made left-right symmetric: zero yaw and
roll mean a symmetric face square to the camera, zero pitch a forehead-chin line square to it (OFIQ's zero is its
3DDFA model's). The mesh is predicted on the upright face crop, so the crop's own in-plane turn (from the five
landmarks) is composed back before the angles are read: R = Rz(roll)·Ry(yaw)·Rx(pitch), axes x right, y down, z away
from the camera.

Signs: yaw positive when the nose points to the image right, pitch positive when the face tilts down, roll positive
when the eye on the image right sits lower. FaceMesh, trained mostly on faces within ~45° of frontal, reads strong
yaw short (an ORL face whose nose reaches the eye outline reads about 30°); reports/measures.md shows how the yaw
agrees with the five-landmark estimate on ORL and how roll follows a rotation.

``HeadPoseYawFromLandmarks`` and ``HeadPoseRollFromLandmarks`` keep the detector-landmark estimate (no network, a
few microseconds) for the cheap ``access_control`` profile: roll is the eye line's angle (it lags a rotation,
reading about 70% of it), yaw the nose tip's offset from the eyes' midpoint along the eye line over the inter-eye
distance, as atan(index / 0.55) (a nose tip 0.55 inter-eye distances in front of the eye plane, an anthropometric
average).
"""

from __future__ import annotations

import math

import numpy as np

from service.measures.base import FaceView, Measure, MeasureResult, component, not_assessable
from service.measures.mesh import NETWORK, mesh_outputs

# Nose-tip depth in front of the eye plane, in inter-eye distances (average adult anthropometry).
NOSE_DEPTH = 0.55
TEMPLATE = "frontal_mesh"  # the card parameter holding the frontal template, 468 x (x, y, z)


def _cos2(degrees: float) -> float:
    return component(100.0 * math.cos(math.radians(degrees)) ** 2)


def rotation(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The proper rotation R (3x3) that best carries the centred ``source`` points onto the centred ``target`` points
    (N x 3 each) up to scale: Kabsch's SVD solution, the reflection excluded."""
    a, b = source - source.mean(axis=0), target - target.mean(axis=0)
    u, _, vt = np.linalg.svd(b.T @ a)
    flip = np.diag([1.0, 1.0, float(np.sign(np.linalg.det(u @ vt)))])
    return u @ flip @ vt


def angles(matrix: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of R = Rz(roll)·Ry(-yaw)·Rx(pitch), with the signs of the module docstring."""
    pitch = math.degrees(math.atan2(matrix[2, 1], matrix[2, 2]))
    yaw = math.degrees(math.asin(float(np.clip(matrix[2, 0], -1.0, 1.0))))
    roll = math.degrees(math.atan2(matrix[1, 0], matrix[0, 0]))
    return yaw, pitch, roll


def head_pose(view: FaceView) -> tuple[float, float, float] | MeasureResult:
    """(yaw, pitch, roll) of the face in the frame, from its mesh, or why it cannot be read."""
    points = mesh_outputs(view)
    if isinstance(points, MeasureResult):
        return points
    template = view.networks[NETWORK].get(TEMPLATE)
    if template is None:
        return not_assessable("the facemesh card has no frontal template")
    in_crop = rotation(np.asarray(template, dtype=np.float64), points["mesh_3d"])
    # the crop was turned upright by the five-landmark similarity (view.transform, frame -> crop): turn it back
    turn = math.atan2(view.transform[1, 0], view.transform[0, 0])
    cos, sin = math.cos(turn), math.sin(turn)
    to_frame = np.array([[cos, sin, 0.0], [-sin, cos, 0.0], [0.0, 0.0, 1.0]])
    return angles(to_frame @ in_crop)


class HeadPose(Measure):
    """One of the mesh pose's three angles (``axis``: 0 yaw, 1 pitch, 2 roll), OFIQ's name, degrees and mapping."""

    raw_scale = "degrees, from a rigid fit of FaceMesh's 3-D mesh to its frontal template"
    mapping = "100·cos²(angle) (OFIQ)"
    reason = "head_turned"
    needs = frozenset({NETWORK})

    def __init__(self, name: str, axis: int):
        self.name, self.axis = name, axis

    def _assess(self, view: FaceView) -> MeasureResult:
        pose = view.shared("head_pose", head_pose)
        if isinstance(pose, MeasureResult):
            return pose
        return MeasureResult(pose[self.axis], _cos2(pose[self.axis]))


HEAD_POSE = (HeadPose("HeadPoseYaw", 0), HeadPose("HeadPosePitch", 1), HeadPose("HeadPoseRoll", 2))


class HeadPoseRollFromLandmarks(Measure):
    name = "HeadPoseRollFromLandmarks"
    raw_scale = "degrees, the eye line's angle (five detector landmarks; coarse, no network)"
    mapping = "100·cos²(roll) (OFIQ's, on a coarser angle)"
    reason = "head_turned"
    needs = frozenset({"landmarks"})

    def _assess(self, view: FaceView) -> MeasureResult:
        dx, dy = (view.landmarks[1] - view.landmarks[0]).tolist()
        if math.hypot(dx, dy) < 1e-6:
            return not_assessable("the eye landmarks coincide")
        roll = math.degrees(math.atan2(dy, dx))
        return MeasureResult(roll, _cos2(roll))


class HeadPoseYawFromLandmarks(Measure):
    name = "HeadPoseYawFromLandmarks"
    raw_scale = "degrees, from the nose offset along the eye line (five detector landmarks; coarse, no network)"
    mapping = "100·cos²(yaw) (OFIQ's, on a coarser angle)"
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
