"""``python -m fiqa measures-validate``: does each component measure separate its own labels, and does it respond
monotonically to the condition it measures? (issue 16, item 4; evaluation only, never training.)

- **Labels**: Yale's conditions: lighting (``leftlight``/``rightlight`` = uneven, ``centerlight``/``normal`` = even)
  for IlluminationUniformity, eyes (``sleepy``/``wink`` against ``normal``/``centerlight``) for EyesOpen and
  EyesVisible, mouth (``surprised`` against ``normal``/``centerlight``) for MouthClosed, expression
  (``happy``/``surprised``) for ExpressionNeutrality: the AUC with which the component ranks the good captures above
  the others. ORL's pose variation, unlabelled, for HeadPoseYaw: its faces labelled by the five-landmark yaw index
  of the evaluation's pose analysis (``orl_pose``).
- **Agreement with a landmark cue**, where no labels exist: HeadPosePitch's signed angle against the five-landmark
  pitch index (``fiqa.evaluate.pose.pitch_index``) on ORL's nodding heads, as a Spearman correlation.
- **Controlled transforms** of a seeded sample of LFW photos (first photo of each chosen person), applied to the whole
  photo before the gateway's detector, alignment and measures, at increasing strength: roll (rotation), pitch (the
  photo plane seen turned about its horizontal midline, a flat stand-in for a nodding head), darkening
  (gamma), over-exposure (gain, clipped), blur (Gaussian), down-scaling, background swap (the person, as the selfie
  segmentation finds it, over a plain background carrying more and more texture), a dark bar over the eyes. For
  each, the Spearman correlation of strength with the measure's component, pooled and per face, and the share of
  faces whose component never rises as the condition worsens.

A measure is said to separate / respond / agree only when the figure clears the rule below (AUC >= 0.7; at least
half the faces' components change with the strength, and their mean per-face Spearman is <= -0.5; Spearman with the
cue >= 0.5); otherwise the report says it does not. Writes ``reports/measures.json`` and, from it,
``reports/measures.md`` (``tests/fiqa/evaluate`` fails when the Markdown is not the JSON's)::

    python -m fiqa measures-validate --faces 60
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image
from scipy.stats import spearmanr

from fiqa.data.lfw_pairs import lfw_paths
from fiqa.data.runtime import offline_runtime
from fiqa.evaluate.pose import BANDS, pitch_index, yaw_index
from service.align import align
from service.detect import Face
from service.measures import MeasureResult
from service.measures.networks import network_inputs
from service.runtime import Runtime

REPO = Path(__file__).resolve().parents[2]
AUC_RULE, SPEARMAN_RULE, CUE_RULE = 0.7, -0.5, 0.5
Transform = Callable[[np.ndarray, float], np.ndarray]


def _rotate(rgb: np.ndarray, degrees: float) -> np.ndarray:
    height, width = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(rgb, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def _tilt(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """The photo as a pinhole camera (focal length 1.2 times the longer side) sees it once its plane is turned by
    ``degrees`` about its horizontal midline, the top edge towards the camera: a flat photo's pitch. FaceMesh reads
    a face so turned as tilting down, though by less than the plane's turn (a photo has no depth)."""
    height, width = rgb.shape[:2]
    focal, turn = 1.2 * max(height, width), math.radians(degrees)
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    x, y = corners[:, 0] - width / 2, corners[:, 1] - height / 2
    depth = focal + y * math.sin(turn)
    seen = np.stack([width / 2 + focal * x / depth, height / 2 + focal * y * math.cos(turn) / depth], axis=1)
    matrix = cv2.getPerspectiveTransform(corners, seen.astype(np.float32))
    return cv2.warpPerspective(rgb, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def _gamma(rgb: np.ndarray, gamma: float) -> np.ndarray:
    return np.rint(255.0 * (rgb / 255.0) ** gamma).astype(np.uint8)


def _gain(rgb: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(rgb.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def _blur(rgb: np.ndarray, sigma: float) -> np.ndarray:
    return rgb if sigma == 0 else cv2.GaussianBlur(rgb, (0, 0), sigma)


def _downscale(rgb: np.ndarray, factor: float) -> np.ndarray:
    height, width = rgb.shape[:2]
    size = (max(16, round(width * factor)), max(16, round(height * factor)))
    return rgb if factor == 1 else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def swap_background(rgba: np.ndarray, amplitude: float) -> np.ndarray:
    """The photo's person (alpha: the selfie segmentation's mask, ``with_person``) over a mid-grey background
    carrying a fixed texture (seeded noise blurred to blobs of a few pixels, unit spread) of ``amplitude`` grey
    levels: 0 is a plain background."""
    height, width = rgba.shape[:2]
    noise = cv2.GaussianBlur(np.random.default_rng(0).standard_normal((height, width)).astype(np.float32), (0, 0), 2)
    background = np.clip(128.0 + amplitude * noise / noise.std(), 0, 255)[..., None]
    alpha = rgba[..., 3:].astype(np.float32) / 255.0
    return np.rint(alpha * rgba[..., :3] + (1.0 - alpha) * background).astype(np.uint8)


def with_person(runtime: Runtime, rgb: np.ndarray) -> np.ndarray:
    """``rgb`` with a fourth channel: the selfie segmentation's person mask around its largest face, warped back to
    the frame (0 beyond the crop)."""
    card = runtime.registry["selfie"]
    face = max(runtime.detect(rgb), key=lambda found: found.area)
    prepared = network_inputs(card, rgb, [face])
    mask = runtime.infer(card.name, prepared.inputs)[card.output("mask")][0, ..., 0]
    height, width = rgb.shape[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    alpha = cv2.warpAffine(mask, prepared.transforms[0], (width, height), flags=flags, borderValue=0.0)
    return np.dstack([rgb, np.rint(255.0 * alpha).astype(np.uint8)])


def _with_eye_band(runtime: Runtime, rgb: np.ndarray) -> np.ndarray:
    """``rgb`` with a fourth channel: each pixel's distance from the largest face's eye line in hundredths of its
    inter-eye distance (255 beyond half an inter-eye distance outside the eyes, left and right)."""
    face = max(runtime.detect(rgb), key=lambda found: found.area)
    left, right = face.landmarks[0], face.landmarks[1]
    distance = float(np.linalg.norm(right - left))
    rows, cols = np.mgrid[0 : rgb.shape[0], 0 : rgb.shape[1]].astype(np.float64)
    along = ((cols - left[0]) * (right - left)[0] + (rows - left[1]) * (right - left)[1]) / distance
    across = np.abs((cols - left[0]) * (right - left)[1] - (rows - left[1]) * (right - left)[0]) / distance
    band = np.where((along > -0.5 * distance) & (along < 1.5 * distance), 100.0 * across / distance, 255.0)
    return np.dstack([rgb, np.clip(band, 0, 255).astype(np.uint8)])


def _eye_bar(rgba: np.ndarray, height: float) -> np.ndarray:
    """A dark bar (sunglasses, a hand) of ``height`` inter-eye distances over the eyes (``_with_eye_band``)."""
    out = rgba[..., :3].copy()
    out[rgba[..., 3] <= 50.0 * height] = 20
    return out


# transform name -> (function, strengths from none to strongest, the measure it tests)
TRANSFORMS: dict[str, tuple[Transform, tuple[float, ...], str]] = {
    "roll (rotation, degrees)": (_rotate, (0, 10, 20, 30, 45), "HeadPoseRoll"),
    "roll (rotation, degrees), five landmarks": (_rotate, (0, 10, 20, 30, 45), "HeadPoseRollFromLandmarks"),
    "pitch (photo plane turned, top towards the camera, degrees)": (_tilt, (0, 10, 20, 30, 40), "HeadPosePitch"),
    "darkening (gamma)": (_gamma, (1.0, 2.0, 3.0, 4.5, 6.0), "UnderExposurePrevention"),
    "darkening (gamma), luminance": (_gamma, (1.0, 1.5, 2.0, 3.0, 4.0), "LuminanceMean"),
    "over-exposure (gain)": (_gain, (1.0, 1.4, 1.8, 2.4, 3.0), "OverExposurePrevention"),
    "blur (Gaussian sigma, px)": (_blur, (0.0, 1.0, 2.0, 3.0, 5.0), "Sharpness"),
    "down-scaling (factor)": (_downscale, (1.0, 0.7, 0.5, 0.35, 0.25), "InterEyeDistance"),
    "background swap (texture, grey levels)": (swap_background, (0, 4, 8, 16, 32), "BackgroundUniformity"),
    "bar over the eyes (height, inter-eye distances)": (_eye_bar, (0, 0.1, 0.2, 0.3, 0.45), "EyesVisible"),
}
# transforms that read more than the photo: name -> what to add to each photo first
PREPARE: dict[str, Callable[[Runtime, np.ndarray], np.ndarray]] = {
    "background swap (texture, grey levels)": with_person,
    "bar over the eyes (height, inter-eye distances)": _with_eye_band,
}
# measure -> (conditions that should score high, conditions that should score low), Yale's condition names
LABELS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "IlluminationUniformity": (("centerlight", "normal"), ("leftlight", "rightlight")),
    "EyesOpen": (("centerlight", "normal"), ("sleepy", "wink")),
    "EyesVisible": (("centerlight", "normal"), ("sleepy", "wink")),
    "MouthClosed": (("centerlight", "normal"), ("surprised",)),
    "ExpressionNeutrality": (("centerlight", "normal"), ("happy", "surprised")),
}


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def component(runtime: Runtime, rgb: np.ndarray, measure: str) -> float:
    """The measure's component on the largest face the gateway finds (NaN without a face or when not assessable)."""
    faces = runtime.detect(rgb)
    if not faces:
        return float("nan")
    return _measured(runtime, rgb, faces, [measure])[measure].score


def _measured(runtime: Runtime, rgb: np.ndarray, faces: list[Face], measures: list[str]) -> dict[str, MeasureResult]:
    """The measures on the largest of ``faces``; NaN raw and score where not assessable."""
    face = max(faces, key=lambda found: found.area)
    (results,) = runtime.measure(measures, rgb, [face], [align(rgb, face.landmarks)], faces)
    nan = MeasureResult(float("nan"), float("nan"))
    return {name: result if result.assessed else nan for name, result in results.items()}


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(positive > negative) + 0.5 P(tie), over finite values."""
    positive, negative = positive[np.isfinite(positive)], negative[np.isfinite(negative)]
    greater = (positive[:, None] > negative[None, :]).mean()
    ties = (positive[:, None] == negative[None, :]).mean()
    return float(greater + 0.5 * ties)


def yale_labels(runtime: Runtime, yale: Path, measure: str) -> dict[str, Any]:
    good, poor = LABELS[measure]

    def scores(conditions: tuple[str, ...]) -> np.ndarray:
        paths = sorted(path for path in yale.iterdir() if path.suffix.lstrip(".") in conditions)
        return np.array([component(runtime, _rgb(path), measure) for path in paths])

    high, low = scores(good), scores(poor)
    value = auc(high, low)
    return {
        "measure": measure,
        "labels": f"Yale {'/'.join(good)} (good) vs {'/'.join(poor)}",
        "good": int(np.isfinite(high).sum()),
        "poor": int(np.isfinite(low).sum()),
        "auc": round(value, 3),
        "separates": value >= AUC_RULE,
    }


def orl_faces(runtime: Runtime, orl: Path, measures: list[str]) -> tuple[np.ndarray, dict[str, list[MeasureResult]]]:
    """Every ORL face the gateway finds (the largest per photo), detected once: its five landmarks (N, 5, 2) and
    each of ``measures`` on it."""
    landmarks, results = [], {name: [] for name in measures}
    for path in sorted(orl.glob("s*/*.pgm")):
        rgb = _rgb(path)
        faces = runtime.detect(rgb)
        if faces:
            landmarks.append(max(faces, key=lambda face: face.area).landmarks)
            for name, result in _measured(runtime, rgb, faces, measures).items():
                results[name].append(result)
    return np.array(landmarks), results


def orl_pose(landmarks: np.ndarray, results: list[MeasureResult], measure: str = "HeadPoseYaw") -> dict[str, Any]:
    """ORL has pose variation but no angles: its faces are labelled by the five-landmark yaw index the evaluation's
    pose analysis uses (fiqa/evaluate/pose.py), frontal below its first band edge, turned from its second; the row
    gives the AUC of the mesh yaw's component on those labels and the Spearman of |yaw| with the index."""
    frontal, turned = BANDS[0], BANDS[1]
    proxy = yaw_index(landmarks)
    raw, components = np.abs([r.raw for r in results]), np.array([r.score for r in results])
    value = auc(components[proxy < frontal], components[proxy >= turned])
    known = np.isfinite(raw)
    return {
        "measure": measure,
        "labels": f"ORL five-landmark yaw index < {frontal:g} (good) vs >= {turned:g}",
        "good": int((np.isfinite(components) & (proxy < frontal)).sum()),
        "poor": int((np.isfinite(components) & (proxy >= turned)).sum()),
        "auc": round(value, 3),
        "separates": value >= AUC_RULE,
        "spearman_with_proxy": round(float(spearmanr(raw[known], proxy[known]).statistic), 3),
    }


def orl_pitch(landmarks: np.ndarray, results: list[MeasureResult], measure: str = "HeadPosePitch") -> dict[str, Any]:
    """No pitch labels exist here: the signed mesh pitch of ORL's faces (its people nod as well as turn) against
    the five-landmark pitch index, a cue of the same tilt from other landmarks (the detector's), as a Spearman
    correlation: a check that the angle moves with the head, not of its zero or its scale."""
    raw, cue = np.array([r.raw for r in results]), pitch_index(landmarks)
    known = np.isfinite(raw)
    value = float(spearmanr(raw[known], cue[known]).statistic)
    return {
        "measure": measure,
        "cue": "ORL five-landmark pitch index (nose offset along the eye-to-mouth axis)",
        "faces": int(known.sum()),
        "spearman": round(value, 3),
        "agrees": value >= CUE_RULE,
    }


def transform_response(runtime: Runtime, photos: list[np.ndarray], name: str) -> dict[str, Any]:
    apply, strengths, measure = TRANSFORMS[name]
    if name in PREPARE:
        photos = [PREPARE[name](runtime, rgb) for rgb in photos]
    table = np.array([[component(runtime, apply(rgb, s), measure) for s in strengths] for rgb in photos])
    rows = table[np.isfinite(table).all(axis=1)]  # faces found and assessed at every strength
    level = np.arange(len(strengths))
    per_face = [spearmanr(level, row).statistic for row in rows if np.ptp(row) > 0]
    pooled = spearmanr(np.tile(level, len(rows)), rows.ravel()).statistic if len(rows) else float("nan")
    mean_per_face = float(np.mean(per_face)) if per_face else float("nan")
    never_rises = float((np.diff(rows, axis=1) <= 0).all(axis=1).mean()) if len(rows) else float("nan")
    return {
        "transform": name,
        "measure": measure,
        "strengths": list(strengths),
        "faces": len(rows),
        "faces_changing": len(per_face),
        "mean_component_per_strength": [round(float(v), 1) for v in rows.mean(axis=0)] if len(rows) else [],
        "spearman_pooled": round(float(pooled), 3),
        "spearman_per_face_mean": round(mean_per_face, 3),
        "share_never_rising": round(never_rises, 3),
        # a response needs most faces to move at all, and those that move to fall with the strength
        "responds": bool(mean_per_face <= SPEARMAN_RULE and 2 * len(per_face) >= len(rows)),
    }


def _verdict(passed: bool) -> str:
    """A rule's verdict as the report prints it: a failure stands out."""
    return "yes" if passed else "**no**"


def render(report: dict[str, Any]) -> str:
    """``reports/measures.md`` from ``reports/measures.json``."""
    lines = [
        "# Component measures: validation",
        "",
        "Generated by `python -m fiqa measures-validate` from `reports/measures.json`; do not edit by hand. "
        f"Rule: a measure separates its labels at AUC >= {AUC_RULE}; it responds to its transform when at least half "
        f"the faces' components change and their mean per-face Spearman is <= {SPEARMAN_RULE}; it agrees with a cue at "
        f"Spearman >= {CUE_RULE}; otherwise this report says it does not.",
        "",
        "## Labels",
        "",
        "| measure | labels | faces (good / other) | AUC | separates |",
        "|---|---|---|---|---|",
    ]
    for row in report["labels"]:
        faces = f"{row['good']} / {row['poor']}"
        labels = row["labels"]
        if "spearman_with_proxy" in row:
            labels += f" (Spearman of the raw's magnitude with the index: {row['spearman_with_proxy']:.3f})"
        lines.append(f"| {row['measure']} | {labels} | {faces} | {row['auc']:.3f} | {_verdict(row['separates'])} |")
    lines += [
        "",
        "## Agreement with a landmark cue (no labels)",
        "",
        "| measure | cue | faces | Spearman (signed raw vs cue) | agrees |",
        "|---|---|---|---|---|",
    ]
    for row in report["cues"]:
        lines.append(
            f"| {row['measure']} | {row['cue']} | {row['faces']} | {row['spearman']:.3f} | {_verdict(row['agrees'])} |"
        )
    lines += [
        "",
        f"## Controlled transforms of {report['lfw_faces']} LFW photos (seed {report['seed']})",
        "",
        "| transform | measure | strengths | faces (changing) | mean component per strength | Spearman pooled | "
        "per face (mean over the changing) | never rising | responds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["transforms"]:
        strengths = ", ".join(f"{s:g}" for s in row["strengths"])
        means = ", ".join(f"{v:g}" for v in row["mean_component_per_strength"])
        lines.append(
            f"| {row['transform']} | {row['measure']} | {strengths} | {row['faces']} ({row['faces_changing']}) | "
            f"{means} | "
            f"{row['spearman_pooled']:.3f} | {row['spearman_per_face_mean']:.3f} | {row['share_never_rising']:.0%} | "
            f"{_verdict(row['responds'])} |"
        )
    lines += ["", "Measures not in these tables have no labelled data or transform here yet (README)."]
    return "\n".join(lines) + "\n"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lfw", type=Path, default=REPO.parent / "shared" / "data" / "lfw")
    parser.add_argument("--yale", type=Path, default=REPO.parent / "shared" / "data" / "yalefaces")
    parser.add_argument("--orl", type=Path, default=REPO.parent / "shared" / "data" / "orl")
    parser.add_argument("--faces", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reports", type=Path, default=REPO / "reports")


def main(args: argparse.Namespace) -> int:
    """Run the command (``python -m fiqa`` parses its arguments with ``configure``)."""
    runtime = offline_runtime(warmup=False)
    photos = [_rgb(path) for path in lfw_paths(args.lfw, args.faces, args.seed)]
    orl_landmarks, orl = orl_faces(runtime, args.orl, ["HeadPoseYaw", "HeadPosePitch"])
    report = {
        "lfw_faces": len(photos),
        "seed": args.seed,
        "labels": [
            *(yale_labels(runtime, args.yale, measure) for measure in LABELS),
            orl_pose(orl_landmarks, orl["HeadPoseYaw"]),
        ],
        "cues": [orl_pitch(orl_landmarks, orl["HeadPosePitch"])],
        "transforms": [transform_response(runtime, photos, name) for name in TRANSFORMS],
    }
    runtime.shutdown()
    (args.reports / "measures.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.reports / "measures.md").write_text(render(report))
    print(render(report))
    return 0
