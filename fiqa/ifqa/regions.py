"""Face regions from the 5 ArcFace landmarks (left eye, right eye, nose, left and right mouth corner).

No face-parsing or dense-landmark weights exist offline, so both the face mask (the seed's M_FACE) and the
facial primary regions (eyes, nose, mouth; the seed's FPRS regions) are geometric constructions:

- face oval: an ellipse centred on the eye midpoint + 0.32 d along the face's vertical axis (d = distance from
  the eye midpoint to the mouth midpoint), semi-axes 1.08 x inter-eye distance (across) and 1.12 d (along),
  rotated with the eye line. On the ArcFace template this runs from the hairline (y ~ 19 of 112) to the chin
  (y ~ 110) and from cheek to cheek (x ~ 18..94).
- eyes: a box per eye, 0.7 x 0.45 inter-eye distance, centred on the eye;
- nose: a box from a third of the way between the eye line and the nose tip to 0.2 d below the tip,
  0.55 inter-eye distance wide;
- mouth: a box around both mouth corners, 1.5 x mouth width wide, 0.7 x mouth width tall.
All coordinates are in pixels of the image the landmarks belong to (x right, y down).
"""

from __future__ import annotations

import cv2
import numpy as np

REGIONS = ("eyes", "nose", "mouth")
Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def _axes(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    eyes = (landmarks[0] + landmarks[1]) / 2
    mouth = (landmarks[3] + landmarks[4]) / 2
    inter_eye = float(np.linalg.norm(landmarks[1] - landmarks[0]))
    eye_mouth = float(np.linalg.norm(mouth - eyes))
    return eyes, mouth, inter_eye, eye_mouth


def face_mask(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(size, size) float32 mask, 1 inside the face oval."""
    eyes, mouth, inter_eye, eye_mouth = _axes(landmarks)
    down = (mouth - eyes) / max(eye_mouth, 1e-6)
    centre = eyes + 0.32 * eye_mouth * down
    across = landmarks[1] - landmarks[0]
    angle = float(np.degrees(np.arctan2(across[1], across[0])))
    mask = np.zeros((size, size), dtype=np.uint8)
    scale = 16  # cv2.ellipse takes integer pixels; draw with 4 fractional bits
    cv2.ellipse(
        mask,
        (round(centre[0] * scale), round(centre[1] * scale)),
        (round(1.08 * inter_eye * scale), round(1.12 * eye_mouth * scale)),
        angle,
        0,
        360,
        1,
        thickness=-1,
        lineType=cv2.LINE_8,
        shift=4,
    )
    return mask.astype(np.float32)


def region_boxes(landmarks: np.ndarray) -> dict[str, list[Box]]:
    """Axis-aligned boxes of the facial primary regions."""
    _, _, inter_eye, eye_mouth = _axes(landmarks)
    left, right, nose, mouth_l, mouth_r = (landmarks[i] for i in range(5))

    def around(centre: np.ndarray, width: float, height: float) -> Box:
        return (centre[0] - width / 2, centre[1] - height / 2, centre[0] + width / 2, centre[1] + height / 2)

    eye_w, eye_h = 0.7 * inter_eye, 0.45 * inter_eye
    eye_line = (left[1] + right[1]) / 2
    top = eye_line + (nose[1] - eye_line) / 3
    mouth_w = float(np.linalg.norm(mouth_r - mouth_l))
    return {
        "eyes": [around(left, eye_w, eye_h), around(right, eye_w, eye_h)],
        "nose": [(nose[0] - 0.275 * inter_eye, top, nose[0] + 0.275 * inter_eye, nose[1] + 0.2 * eye_mouth)],
        "mouth": [around((mouth_l + mouth_r) / 2, 1.5 * mouth_w, 0.7 * mouth_w)],
    }


def boxes_mask(boxes: list[Box], size: int) -> np.ndarray:
    """(size, size) float32 mask, 1 inside any box (pixel centres inside the box, clipped to the image)."""
    mask = np.zeros((size, size), dtype=np.float32)
    for x0, y0, x1, y1 in boxes:
        c0, r0 = max(0, int(np.ceil(x0 - 0.5))), max(0, int(np.ceil(y0 - 0.5)))
        c1, r1 = min(size, int(np.floor(x1 - 0.5)) + 1), min(size, int(np.floor(y1 - 0.5)) + 1)
        mask[r0:r1, c0:c1] = 1.0
    return mask


def region_mask(landmarks: np.ndarray, size: int, regions: tuple[str, ...] | list[str]) -> np.ndarray:
    """Mask of the named primary regions."""
    boxes = region_boxes(landmarks)
    return boxes_mask([box for name in regions for box in boxes[name]], size)


def fprs_mask(landmarks: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """M_FPRS of Eq. 2: a random non-empty subset of {eyes, nose, mouth}."""
    chosen: list[str] = []
    while not chosen:
        chosen = [name for name in REGIONS if rng.random() < 0.5]
    return region_mask(landmarks, size, chosen)


def flip_landmarks(landmarks: np.ndarray, size: int) -> np.ndarray:
    """Landmarks of the horizontally mirrored image (left/right roles swap)."""
    mirrored = landmarks.copy()
    mirrored[..., 0] = size - 1 - mirrored[..., 0]
    return mirrored[..., [1, 0, 2, 4, 3], :]
