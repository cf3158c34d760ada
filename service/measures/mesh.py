"""EyesOpen and MouthClosed from the FaceMesh network's landmarks (``models/facemesh``: 468 points of the face crop).

OFIQ reads both from its landmark model (ADNet, 98 points): the eye opening as the distance between the upper and
lower eyelid relative to the inter-eye distance, the mouth as the inner lips' gap. We follow that construction on
MediaPipe's mesh, scale-free and per eye, with our own linear mappings, set from the geometry and not fitted to any
data here (OFIQ's sigmoid parameters belong to its own landmark model): an open eye's aspect ratio is about 0.3 and
a blink falls below about 0.2 (Soukupová and Čech, 2016), closed lips keep their gap under a tenth of the mouth's
width. How they separate Yale's labelled captures is in reports/measures.md.

- EyesOpen raw: the smaller of the two eyes' aspect ratios (lid-to-lid distance over the eye's corner-to-corner
  width), so one closed eye (a wink) counts, read on the attention heads' refined eye contours (71 points per eye,
  MediaPipe's refinement order: 0 and 8 the corners, 12 the upper and 4 the lower lid, i.e. mesh points 33, 133,
  159, 145 and 263, 362, 386, 374): the base mesh's lids barely move when an eye closes.
- MouthClosed raw: the inner lips' gap (mesh points 13-14) over the mouth's width (61-291).
- EyesVisible raw: the smaller of the two eyes' shares of the iris disc (the attention heads' iris points: centre and
  four rim points, radius their mean distance) that lies inside the eye's lid contour (refined points 0..8 along the
  lower lid, 15..9 back along the upper one), rasterised at 8 samples per crop pixel. OFIQ's EyesVisible is the
  share of the eye region its face-occlusion segmentation finds unoccluded (sunglasses, hair, a hand); we have no
  such network, and a landmark model draws eyes under an occluder (a bar over the eyes of a photo does not lower
  this measure: reports/measures.md), so ours says whether the iris shows between the lids (half-closed, squinting,
  a wink), not whether something covers the eye. The iris network (``models/iris``) gives the same MediaPipe iris
  points from two more crops per face, so it adds cost and no information here. Mapping linear, 0.25 -> 0 and
  0.65 -> 100: an open eye's upper lid covers the top of the iris, so it shows some 60..90% of it; chosen with
  Yale's values in view (its normal captures read 0.57..0.89, sleepy ones at most 0.38), so the Yale AUC in the
  report is not independent evidence of the mapping, only of the ranking.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from service.measures.base import FaceView, Measure, MeasureResult, component, network_outputs, not_assessable

NETWORK = "facemesh"
FACE_PRESENT = 0.5  # the mesh's own face-presence probability below which its points mean nothing
# (upper lid, lower lid, corner, corner) per eye, MediaPipe's canonical mesh indices
EYE_CONTOURS = ("eye_image_left", "eye_image_right")
IRISES = ("iris_image_left", "iris_image_right")
LIDS = [*range(0, 9), *range(15, 8, -1)]  # the refined eye points around the opening, in order
SAMPLES = 8  # raster samples per crop pixel for the iris disc
UPPER_LID, LOWER_LID, CORNERS = 12, 4, (0, 8)
INNER_LIPS, MOUTH_CORNERS = (13, 14), (61, 291)


def mesh_outputs(view: FaceView) -> dict[str, np.ndarray] | MeasureResult:
    """The face's points of the crop: ``mesh`` (468 x (x, y)), ``mesh_3d`` (468 x (x, y, z)) and the refined eye
    contours (71 x (x, y) each), or why they cannot be read."""
    outputs = network_outputs(view, NETWORK)
    if isinstance(outputs, MeasureResult):
        return outputs
    if float(np.asarray(outputs["face_flag"]).reshape(-1)[0]) < FACE_PRESENT:
        return not_assessable("the face mesh finds no face in the crop")
    mesh = np.asarray(outputs["mesh"], dtype=np.float64).reshape(468, 3)
    points = {"mesh": mesh[:, :2], "mesh_3d": mesh}
    points |= {eye: np.asarray(outputs[eye], dtype=np.float64).reshape(71, 2) for eye in EYE_CONTOURS}
    points |= {iris: np.asarray(outputs[iris], dtype=np.float64).reshape(5, 2) for iris in IRISES}
    return points


def _ratio(points: np.ndarray, a: int, b: int, c: int, d: int) -> float:
    width = float(np.linalg.norm(points[c] - points[d]))
    return float(np.linalg.norm(points[a] - points[b])) / width if width > 1e-6 else float("nan")


def _eye_opening(points: dict[str, np.ndarray]) -> float:
    return min(_ratio(points[eye], UPPER_LID, LOWER_LID, *CORNERS) for eye in EYE_CONTOURS)


def _iris_shown(eye: np.ndarray, iris: np.ndarray) -> float:
    """Share of the iris disc inside the lid contour, on a raster around the iris."""
    radius = float(np.linalg.norm(iris[1:] - iris[0], axis=1).mean())
    if radius < 1e-3:
        return float("nan")
    origin = iris[0] - 2.0 * radius
    size = int(np.ceil(4.0 * radius * SAMPLES)) + 1
    opening, disc = np.zeros((size, size), np.uint8), np.zeros((size, size), np.uint8)
    cv2.fillPoly(opening, [np.round((eye[LIDS] - origin) * SAMPLES).astype(np.int32)], 1)
    centre = np.round((iris[0] - origin) * SAMPLES).astype(int)
    cv2.circle(disc, (int(centre[0]), int(centre[1])), round(radius * SAMPLES), 1, -1)
    return float((opening & disc).sum()) / max(int(disc.sum()), 1)


def _iris_visible(points: dict[str, np.ndarray]) -> float:
    return min(_iris_shown(points[eye], points[iris]) for eye, iris in zip(EYE_CONTOURS, IRISES, strict=True))


def _lips_gap(points: dict[str, np.ndarray]) -> float:
    return _ratio(points["mesh"], INNER_LIPS[0], INNER_LIPS[1], MOUTH_CORNERS[0], MOUTH_CORNERS[1])


class MeshRatio(Measure):
    """A ratio read off the face's mesh points, mapped linearly: ``zero`` -> 0 and ``full`` -> 100, clipped."""

    def __init__(
        self,
        name: str,
        raw_scale: str,
        reason: str,
        ratio: Callable[[dict[str, np.ndarray]], float],
        zero: float,
        full: float,
    ):
        self.name, self.raw_scale, self.reason, self.ratio = name, raw_scale, reason, ratio
        self.zero, self.full = zero, full
        self.needs = frozenset({NETWORK})
        self.mapping = f"linear, {zero:g} -> 0, {full:g} -> 100, clipped (ours, from the geometry; OFIQ's is for ADNet)"

    def _assess(self, view: FaceView) -> MeasureResult:
        points = mesh_outputs(view)
        if isinstance(points, MeasureResult):
            return points
        raw = self.ratio(points)
        return MeasureResult(raw, component(100.0 * (raw - self.zero) / (self.full - self.zero)))


EYES_OPEN = MeshRatio(
    "EyesOpen",
    "smaller eye aspect ratio, lid-to-lid over corner-to-corner (FaceMesh); open eyes ~0.25-0.35",
    "eyes_closed",
    _eye_opening,
    zero=0.10,
    full=0.25,
)
MOUTH_CLOSED = MeshRatio(
    "MouthClosed",
    "inner lips' gap over the mouth's width (FaceMesh); closed ~0-0.05",
    "mouth_open",
    _lips_gap,
    zero=0.30,
    full=0.10,
)
EYES_VISIBLE = MeshRatio(
    "EyesVisible",
    "smaller share of an iris disc inside its eye's lid contour (FaceMesh); open eyes ~0.6-0.9",
    "eyes_not_visible",
    _iris_visible,
    zero=0.25,
    full=0.65,
)
