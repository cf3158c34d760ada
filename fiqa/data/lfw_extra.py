"""Full-LFW photos of identities the View-2 benchmark never names -> aligned 112x112 crops for quality labels.

The benchmark is LFW View-2, and its images differ from CelebA's (deep-funnelled 250x250 news photos): a
regressor distilled on CelebA alone ranks LFW faces less well than CelebA ones. ``../shared/data/README.md``
allows training on full LFW once every identity named in ``pairs.txt`` is excluded, which leaves 1,549 photos of
1,468 people. Almost all are single photos, so they carry no identity supervision: they serve the label sources
that need none (DifFIQA). Crops are made as ``fiqa.data.celeba`` makes them (the gateway's detector and
alignment, largest face).

Outputs in ``--out``: ``index.npz`` (image, landmarks (N,5,2), det_score) and ``crops112.npy`` (N,112,112,3)
uint8 RGB, the layout the label commands read.

    git -C <fetched braun-steven/dfi-tensorflow> archive HEAD data/lfw-deepfunneled | tar -x -C data/lfw_full
    python -m fiqa prepare-lfw-extra --images data/lfw_full/data/lfw-deepfunneled
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import numpy as np

from fiqa.data.celeba import CROP_SIZE, Detector, read_rgb
from fiqa.data.lfw_pairs import read_pairs
from service.align import align

log = logging.getLogger(__name__)


def benchmark_identities(pairs_file: Path) -> set[str]:
    """Every person ``pairs.txt`` mentions, read by the evaluation's own parser."""
    return {person for pair in read_pairs(pairs_file)[1] for person, _ in (pair.first, pair.second)}


def extra_photos(images: Path, excluded: set[str]) -> list[Path]:
    """Photos under ``images/<Name>/`` whose person is not in ``excluded``, sorted for a stable order."""
    return sorted(
        path
        for folder in images.iterdir()
        if folder.is_dir() and folder.name not in excluded
        for path in folder.glob("*.jpg")
    )


def prepare(images: Path, pairs_file: Path, out: Path, limit: int | None = None) -> int:
    """Detect and align the largest face of every extra photo; returns how many were kept."""
    excluded = benchmark_identities(pairs_file)
    if not excluded:
        raise ValueError(f"{pairs_file} names no identity: refusing to build a set that may overlap the benchmark")
    photos = extra_photos(images, excluded)[:limit]
    detector = Detector()
    names, landmarks, scores, crops = [], [], [], []
    for path in photos:
        rgb = read_rgb(path)
        face = detector.largest(rgb)
        if face is None:
            continue
        names.append(f"{path.parent.name}/{path.name}")
        landmarks.append(face.landmarks)
        scores.append(face.score)
        crops.append(align(rgb, face.landmarks, CROP_SIZE).crop)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(
        out / "index.npz",
        image=np.array(names),
        landmarks=np.stack(landmarks).astype(np.float32),
        det_score=np.array(scores, dtype=np.float32),
    )
    np.save(out / "crops112.npy", np.stack(crops))
    log.info(
        "kept %d of %d photos of %d excluded-free identities",
        len(names),
        len(photos),
        len({name.split("/")[0] for name in names}),
    )
    return len(names)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=Path, default=Path("data/lfw_full/data/lfw-deepfunneled"))
    parser.add_argument("--pairs", type=Path, default=Path("../shared/data/lfw/pairs.txt"))
    parser.add_argument("--out", type=Path, default=Path("data/lfw_extra_aligned"))
    parser.add_argument("--limit", type=int, default=None, help="first N photos only (smoke runs)")


def main(args: argparse.Namespace) -> int:
    """Run the command (``python -m fiqa`` parses its arguments with ``configure``)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    prepare(args.images, args.pairs, args.out, args.limit)
    return 0
