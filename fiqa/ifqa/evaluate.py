"""Evidence for the IFQA maps on LFW faces (evaluation only, never training) and the model card's examples.

- Local damage: blur on the eyes only, a grey box over the mouth. For each face, the mean map value inside the
  damaged region vs outside it (rest of the face oval), on the damaged image and as a drop from the original.
- Global degradation strength (Gaussian blur, down-scaling): Spearman correlation of the image score (map
  mean, Eq. 8) with the degradation level.
- Overlays of scikit-image's bundled astronaut photo (public domain, NASA) for the card: original,
  eye-blurred, mouth-occluded.

Damage is applied to the gateway's 112x112 ArcFace crop, so regions are known exactly::

    OMP_NUM_THREADS=1 .venv/bin/python -m fiqa ifqa-evaluate --lfw ../shared/data/lfw --faces 200 \
        --examples models/ifqa/examples --calibrate data/celeba_aligned

writes ``reports/ifqa.json`` and the card's ``lfw_*`` metric lines from it (``card_lines``; ``tests/models`` fails
when the card and the report disagree).
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy.stats import spearmanr

from fiqa.data.embed import ort_runtime
from fiqa.data.lfw_pairs import lfw_paths
from fiqa.evaluate.summary import replaced
from fiqa.ifqa import regions
from service.align import align
from service.quality.ifqa import IFQAMap
from service.quality.maps import render
from service.registry import update_card

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
ALIGNED = 112
EYE_BLUR_SIGMA = 3.0  # pixels of the 112 crop
MOUTH_GREY = 128
BLUR_LEVELS = (0.0, 0.75, 1.5, 2.25, 3.0, 4.0)  # Gaussian sigma, pixels of the 112 crop
DOWNSCALE_LEVELS = (1.0, 0.7, 0.5, 0.35, 0.25, 0.18)  # scale factor, then back up (bilinear)


@dataclass
class AlignedFaces:
    crops: np.ndarray  # (N, 112, 112, 3) uint8 RGB
    landmarks: np.ndarray  # (N, 5, 2) in crop pixels
    names: list[str]


def detect_and_align(paths: list[Path]) -> AlignedFaces:
    """Largest face of each image (the gateway's CenterFace + ArcFace alignment)."""
    from fiqa.data.celeba import Detector, read_rgb

    detector = Detector()
    crops, landmarks, names = [], [], []
    for path in paths:
        rgb = read_rgb(path)
        face = detector.largest(rgb)
        if face is None:
            continue
        aligned = align(rgb, face.landmarks, ALIGNED)
        points = np.asarray(face.landmarks, dtype=np.float64)
        crops.append(aligned.crop)
        landmarks.append(points @ aligned.transform[:, :2].T + aligned.transform[:, 2])
        names.append(path.name)
    return AlignedFaces(np.stack(crops), np.stack(landmarks).astype(np.float32), names)


def blur_eyes(crop: np.ndarray, landmarks: np.ndarray, sigma: float = EYE_BLUR_SIGMA) -> np.ndarray:
    mask = regions.region_mask(landmarks, crop.shape[0], ["eyes"])[..., None]
    blurred = cv2.GaussianBlur(crop, (0, 0), sigma)
    return np.rint(mask * blurred + (1 - mask) * crop).astype(np.uint8)


def cover_mouth(crop: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    mask = regions.region_mask(landmarks, crop.shape[0], ["mouth"])[..., None]
    return np.where(mask > 0, np.uint8(MOUTH_GREY), crop).astype(np.uint8)


def blur(crop: np.ndarray, sigma: float) -> np.ndarray:
    return crop if sigma == 0 else cv2.GaussianBlur(crop, (0, 0), sigma)


def downscale(crop: np.ndarray, factor: float) -> np.ndarray:
    if factor == 1.0:
        return crop
    size = crop.shape[0]
    small = cv2.resize(crop, (max(4, round(size * factor)),) * 2, interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)


class Scorer:
    """The served model through the gateway's own method and onnxruntime backend."""

    def __init__(self, models_dir: Path | None = None, name: str = "ifqa"):
        runtime = ort_runtime([name], models_dir)
        self.method = IFQAMap(runtime.registry[name], runtime.registry)
        self.backend = runtime.backend

    def maps(self, crops: np.ndarray, batch: int = 64) -> np.ndarray:
        out = []
        for start in range(0, len(crops), batch):
            chunk = crops[start : start + batch]
            inputs = self.method.prepare(chunk)
            outputs = {net: self.backend.infer_sync(net, tensors) for net, tensors in inputs.items()}
            out.append(self.method.maps(outputs, len(chunk)))
        return np.concatenate(out)


def region_stats(scorer: Scorer, faces: AlignedFaces, damage: str) -> dict[str, float]:
    """Mean map inside the damaged region vs the rest of the face oval, damaged and original."""
    names = {"eyes_blur": ["eyes"], "mouth_box": ["mouth"]}[damage]
    damaged = np.stack(
        [
            blur_eyes(crop, points) if damage == "eyes_blur" else cover_mouth(crop, points)
            for crop, points in zip(faces.crops, faces.landmarks, strict=True)
        ]
    )
    before, after = scorer.maps(faces.crops), scorer.maps(damaged)
    size = before.shape[-1]
    rows = []
    for row, points in enumerate(faces.landmarks * (size / ALIGNED)):
        inside = regions.region_mask(points, size, names) > 0
        outside = (regions.face_mask(points, size) > 0) & ~inside
        rows.append(
            (
                before[row][inside].mean(),
                before[row][outside].mean(),
                after[row][inside].mean(),
                after[row][outside].mean(),
            )
        )
    values = np.array(rows)
    drop_in, drop_out = values[:, 0] - values[:, 2], values[:, 1] - values[:, 3]
    return {
        "faces": len(values),
        "original_inside": float(values[:, 0].mean()),
        "original_outside": float(values[:, 1].mean()),
        "damaged_inside": float(values[:, 2].mean()),
        "damaged_outside": float(values[:, 3].mean()),
        "share_damaged_inside_below_outside": float((values[:, 2] < values[:, 3]).mean()),
        "share_original_inside_below_outside": float((values[:, 0] < values[:, 1]).mean()),
        "drop_inside": float(drop_in.mean()),
        "drop_outside": float(drop_out.mean()),
        "share_drop_inside_above_outside": float((drop_in > drop_out).mean()),
    }


def strength_correlation(scorer: Scorer, faces: AlignedFaces, kind: str) -> dict[str, object]:
    """Spearman rho of the image score with the degradation level (pooled and per face)."""
    levels = BLUR_LEVELS if kind == "blur" else DOWNSCALE_LEVELS
    apply = blur if kind == "blur" else downscale
    scores = np.stack([scorer.maps(np.stack([apply(c, v) for c in faces.crops])).mean(axis=(1, 2)) for v in levels], 1)
    strength = np.arange(len(levels))  # 0 = untouched, higher = stronger
    pooled = spearmanr(np.tile(strength, len(scores)), scores.ravel()).statistic
    per_face = [spearmanr(strength, row).statistic for row in scores]
    return {
        "levels": list(levels),
        "mean_score_per_level": scores.mean(axis=0).round(4).tolist(),
        "spearman_pooled": float(pooled),
        "spearman_per_face_mean": float(np.nanmean(per_face)),
    }


def calibrate(scorer: Scorer, data: Path, seed: int = 0) -> dict[str, float]:
    """Raw-score percentiles on the CelebA val identities (never trained on), as captured and BFR-degraded
    (fiqa.data.bfr_degrade at 64x64, the training degradation): the card maps degraded p5 -> 0, captured p99 -> 100."""
    from fiqa.data import bfr_degrade as degrade
    from fiqa.data.celeba import load_crops
    from service.quality.base import resize_crops

    index, crops = load_crops(data)
    captured = resize_crops(np.asarray(crops[index.mask("val")]), scorer.method.preprocess.crop_size)
    rng = np.random.default_rng(seed)
    degraded = np.stack([degrade.degrade(crop, rng) for crop in captured])
    raw_captured, raw_degraded = scorer.maps(captured).mean(axis=(1, 2)), scorer.maps(degraded).mean(axis=(1, 2))
    auc = float((raw_captured[:, None] > raw_degraded[None, :]).mean())
    return {
        "val_faces": len(captured),
        "captured_p1": float(np.percentile(raw_captured, 1)),
        "captured_p50": float(np.percentile(raw_captured, 50)),
        "captured_p99": float(np.percentile(raw_captured, 99)),
        "degraded_p5": float(np.percentile(raw_degraded, 5)),
        "degraded_p50": float(np.percentile(raw_degraded, 50)),
        "degraded_p99": float(np.percentile(raw_degraded, 99)),
        "auc_captured_vs_degraded": auc,
    }


def write_examples(scorer: Scorer, out: Path) -> dict[str, float]:
    """Overlay PNGs (original, eyes blurred, mouth covered) of skimage's astronaut; returns their scores."""
    from skimage import data as skdata

    path = out / "_astronaut.png"
    out.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), skdata.astronaut()[..., ::-1])
    try:
        faces = detect_and_align([path])
    finally:
        path.unlink()
    crop, points = faces.crops[0], faces.landmarks[0]
    variants = {"original": crop, "eyes_blurred": blur_eyes(crop, points), "mouth_occluded": cover_mouth(crop, points)}
    maps = scorer.maps(np.stack(list(variants.values())))
    scores = {}
    for (name, image), values in zip(variants.items(), maps, strict=True):
        overlay = render(values, image, np.eye(2, 3), "overlay")
        assert overlay.data is not None
        (out / f"{name}.png").write_bytes(base64.b64decode(overlay.data))
        scores[name] = float(values.mean())
    return scores


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lfw", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--faces", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "ifqa.json")
    parser.add_argument("--card", type=Path, default=REPO / "models" / "ifqa" / "card.yaml", help="'' to leave it")
    parser.add_argument("--examples", type=Path, default=None, help="write the card's overlay PNGs here")
    parser.add_argument("--calibrate", type=Path, default=None, help="fiqa.data.celeba output: fit on its val split")


def main(args: argparse.Namespace) -> int:
    """Run the command (``python -m fiqa`` parses its arguments with ``configure``)."""
    scorer = Scorer(args.models_dir)
    faces = detect_and_align(lfw_paths(args.lfw, args.faces, args.seed))
    log.info("%d LFW faces aligned", len(faces.crops))
    report: dict[str, object] = {"lfw_faces": len(faces.crops), "seed": args.seed}
    for damage in ("eyes_blur", "mouth_box"):
        report[damage] = region_stats(scorer, faces, damage)
    for kind in ("blur", "downscale"):
        report[f"global_{kind}"] = strength_correlation(scorer, faces, kind)
    if args.calibrate is not None:
        report["calibration_celeba_val"] = calibrate(scorer, args.calibrate, args.seed)
    if args.examples is not None:
        report["examples"] = write_examples(scorer, args.examples)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    if str(args.card):
        update_card(args.card, "metrics", card_lines(report))
        if args.calibrate is not None:
            update_card(args.card, "score_mapping", score_mapping(report["calibration_celeba_val"]))
        readme = args.card.with_name("README.md")
        readme.write_text(replaced(readme.read_text(), readme_block(report), BEGIN, END))
    print(json.dumps(report, indent=2))
    return 0


def score_mapping(calibration: dict[str, float]) -> dict[str, Any]:
    """The card's raw -> 0..100 mapping from the CelebA-val calibration: degraded 5th to captured 99th percentile."""
    return {
        "raw_low": round(calibration["degraded_p5"], 4),
        "raw_high": round(calibration["captured_p99"], 4),
        "fitted_on": (
            f"Raw scores (map means) of the {calibration['val_faces']:,} CelebA val-split photos (identities never "
            "trained on; fiqa.data.celeba split, seed 0) as captured and after one seeded draw of the training "
            "degradation (fiqa.data.bfr_degrade): the degraded 5th percentile is "
            f"{calibration['degraded_p5']:.4f}, the captured 99th percentile {calibration['captured_p99']:.3f} "
            "(captured median "
            f"{calibration['captured_p50']:.3f}, degraded median {calibration['degraded_p50']:.3f}; AUC captured vs "
            f"degraded {calibration['auc_captured_vs_degraded']:.3f}). Linear between them, clipped to 0..100."
        ),
    }


BEGIN, END = "<!-- ifqa-evidence:begin -->", "<!-- ifqa-evidence:end -->"


def readme_block(report: dict[str, Any]) -> str:
    """The model README's evidence section, written from the ``ifqa-evaluate`` report (``tests/models`` checks it)."""
    examples = report.get("examples", {})
    lines = [
        BEGIN,
        "<!-- written by `python -m fiqa ifqa-evaluate` from reports/ifqa.json: edit neither by hand -->",
        "",
    ]
    if examples:
        lines += [
            f"| original (score {examples['original']:.3f}) | eyes blurred ({examples['eyes_blurred']:.3f}) | "
            f"mouth occluded ({examples['mouth_occluded']:.3f}) |",
            "|---|---|---|",
            "| ![original](examples/original.png) | ![eyes blurred](examples/eyes_blurred.png) | "
            "![mouth occluded](examples/mouth_occluded.png) |",
            "",
        ]
    lines += [
        f"{report['lfw_faces']} LFW faces (first photo of seeded-random identities, seed {report['seed']}); local "
        "damage, mean map value (0..1) inside the damaged region vs the rest of the face oval:",
        "",
        "| damage | original in / out | damaged in / out | drop in / out | faces with larger drop inside |"
        " faces with damaged in < out |",
        "|---|---|---|---|---|---|",
    ]
    names = {
        "eyes_blur": f"blur on the eyes only (Gaussian σ {EYE_BLUR_SIGMA:g} px of {ALIGNED})",
        "mouth_box": "grey box over the mouth",
    }
    for damage, name in names.items():
        r = report[damage]
        faces = r["faces"]
        lines.append(
            f"| {name} | {r['original_inside']:.3f} / {r['original_outside']:.3f} | {r['damaged_inside']:.3f} / "
            f"{r['damaged_outside']:.3f} | **{r['drop_inside']:.3f} / {r['drop_outside']:.3f}** | "
            f"**{round(r['share_drop_inside_above_outside'] * faces)} / {faces}** | "
            f"{round(r['share_damaged_inside_below_outside'] * faces)} / {faces} |"
        )
    lines += [
        "",
        "Global degradation strength vs image score (Spearman; strength 0 = untouched):",
        "",
        "| degradation | levels | mean score per level | Spearman pooled | mean per-face Spearman |",
        "|---|---|---|---|---|",
    ]
    for kind, name in (("blur", f"Gaussian blur σ (px of {ALIGNED})"), ("downscale", "down-scale then up")):
        r = report[f"global_{kind}"]
        levels = ", ".join(f"{level:g}" for level in r["levels"])
        means = ", ".join(f"{value:.3f}" for value in r["mean_score_per_level"])
        lines.append(
            f"| {name} | {levels} | {means} | **{r['spearman_pooled']:.3f}** | {r['spearman_per_face_mean']:.3f} |"
        )
    calibration = report.get("calibration_celeba_val")
    if calibration:
        lines += ["", f"Score mapping (card): {score_mapping(calibration)['fitted_on']}"]
    return "\n".join([*lines, "", END])


def card_lines(report: dict[str, Any]) -> dict[str, str]:
    """The card's ``metrics`` lines for the maps' evidence, worded from the ``ifqa-evaluate`` report."""
    lines = {}
    for damage, key in (("eyes_blur", "lfw_eye_blur_map_drop"), ("mouth_box", "lfw_mouth_box_map_drop")):
        stats = report[damage]
        larger = round(stats["share_drop_inside_above_outside"] * stats["faces"])
        lines[key] = (
            f"inside {stats['drop_inside']:.3f} vs rest of face {stats['drop_outside']:.3f}; "
            f"larger inside for {larger}/{stats['faces']} LFW faces"
        )
    for kind in ("blur", "downscale"):
        stats = report[f"global_{kind}"]
        lines[f"lfw_spearman_score_vs_{kind}"] = (
            f"{stats['spearman_pooled']:.3f} pooled, {stats['spearman_per_face_mean']:.3f} mean per face "
            f"({len(stats['levels'])} levels, {report['lfw_faces']} faces)"
        )
    return lines
