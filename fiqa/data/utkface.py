"""UTKFace tight crops -> ArcFace-aligned 112x112 crops for identity-free labels (DifFIQA), padding kept.

UTKFace's 200x200 photos are already cut close around the face, so the ArcFace template (which shows the
forehead, the ears and the chin) reaches outside most of them: ``cv2.warpAffine`` pads the crop black, as the
gateway does for a face at the border of a photo. That is what the set is for (issue 14): the regressors had
only seen CelebA crops that lie inside their photos, and the gateway now scores padded crops too. Each crop's
``out_of_frame`` share is recorded exactly as ``service.align`` computes it. Faces are found and aligned as
``fiqa.data.celeba`` does (the gateway's CenterFace with its looser fallback threshold, largest face); photos
where nothing is found are counted and skipped (``missed.txt``). The set has no identities: every sample is a
training sample (``train-regressor --extra``), never a validation one.

Outputs in ``--out``: ``index.npz`` (image, landmarks (N,5,2), det_score, out_of_frame, age, gender, race; -1
where the file name lacks a field) and ``crops112.npy`` (N,112,112,3) uint8 RGB, the layout the label commands
read. UTKFace's terms: non-commercial research.

    python -m fiqa prepare-utkface --src data/utkface --out data/utkface_aligned
    python -m fiqa prepare-utkface --src data/utkface --out data/utkface_aligned_3k --count 3000  # labelling budget
    python -m fiqa label-diffiqa --data data/utkface_aligned
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import numpy as np

from fiqa.data.celeba import CROP_SIZE, Detector, read_rgb
from service.align import align

log = logging.getLogger(__name__)


ATTRIBUTE_RANGES = ((0, 150), (0, 1), (0, 4))  # age, gender (0 male, 1 female), race (0..4), as UTKFace codes them


def attributes(name: str) -> tuple[int, int, int]:
    """(age, gender, race) from ``age_gender_race_date.jpg.chip.jpg``; -1 for a missing or malformed field
    (a few UTKFace names lack the race, so the date would otherwise be read as one)."""
    fields = name.split(".")[0].split("_")[:3]
    fields += [""] * (3 - len(fields))
    age, gender, race = (
        int(field) if field.isdigit() and low <= int(field) <= high else -1
        for field, (low, high) in zip(fields, ATTRIBUTE_RANGES, strict=True)
    )
    return age, gender, race


def prepare(src: Path, out: Path, limit: int | None = None, count: int | None = None, seed: int = 0) -> int:
    """Detect and align the largest face of every ``src/*.jpg`` (or of a seeded draw of ``count`` of them: the
    names sort by age, so the first N would not do); returns how many were kept."""
    photos = sorted(src.glob("*.jpg"))
    if count is not None and count < len(photos):
        drawn = np.random.default_rng(seed).choice(len(photos), size=count, replace=False)
        photos = [photos[row] for row in np.sort(drawn)]
    photos = photos[:limit]
    detector = Detector()
    names, landmarks, scores, shares, crops, missed = [], [], [], [], [], []
    start = time.perf_counter()
    for number, path in enumerate(photos):
        rgb = read_rgb(path)
        face = detector.largest(rgb)
        if face is None:
            missed.append(path.name)
            continue
        aligned = align(rgb, face.landmarks, CROP_SIZE)
        names.append(path.name)
        landmarks.append(face.landmarks)
        scores.append(face.score)
        shares.append(aligned.out_of_frame)
        crops.append(aligned.crop)
        if number % 1000 == 0:
            log.info("%d/%d photos, %.0f s", number, len(photos), time.perf_counter() - start)
    if not names:
        raise ValueError(f"no face found in the {len(photos)} photos of {src}")
    out.mkdir(parents=True, exist_ok=True)
    age, gender, race = np.array([attributes(name) for name in names], dtype=np.int16).T
    share = np.array(shares, dtype=np.float32)
    np.savez(
        out / "index.npz",
        image=np.array(names),
        landmarks=np.stack(landmarks).astype(np.float32),
        det_score=np.array(scores, dtype=np.float32),
        out_of_frame=share,
        age=age,
        gender=gender,
        race=race,
    )
    np.save(out / "crops112.npy", np.stack(crops))
    (out / "missed.txt").write_text("".join(f"{name}\n" for name in missed))
    log.info(
        "kept %d of %d photos, %d without a face, %.0f s; out of frame: median %.3f, 10-90 %% %.3f-%.3f, "
        "%.1f %% over 0.35",
        len(names),
        len(photos),
        len(missed),
        time.perf_counter() - start,
        np.median(share),
        *np.percentile(share, [10, 90]),
        100 * (share > 0.35).mean(),
    )
    return len(names)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--src", type=Path, default=Path("data/utkface"), help="folder of UTKFace *.jpg photos")
    parser.add_argument("--out", type=Path, default=Path("data/utkface_aligned"))
    parser.add_argument("--limit", type=int, default=None, help="first N photos only (smoke runs)")
    parser.add_argument(
        "--count", type=int, default=None, help="a seeded random draw of this many photos (labelling budget)"
    )
    parser.add_argument("--seed", type=int, default=0)


def main(args: argparse.Namespace) -> int:
    """Run the command (``python -m fiqa`` parses its arguments with ``configure``)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    prepare(args.src, args.out, args.limit, args.count, args.seed)
    return 0
