"""CelebA subset -> detected, ArcFace-aligned 112x112 crops plus a landmark index and an identity split.

The gateway's own CenterFace detector and ArcFace alignment are reused (not re-implemented), so training crops
are made exactly as served crops are. The landmarks are kept so other crop sizes / margins can be re-made
later (``recrop``) without detecting again.

Outputs in ``--out``: ``index.npz`` (image, identity, landmarks (N,5,2), det_score, inter_eye, split, size) and
``crops112.npy`` (N,112,112,3) uint8 RGB.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fiqa.data.embed import ort_runtime
from service.align import align
from service.decode import decode_image
from service.detect import DETECTOR, decode, letterbox

log = logging.getLogger(__name__)

CROP_SIZE = 112
FALLBACK_THRESHOLD = 0.2  # a second, looser pass for photos where nothing passes the gateway's threshold


@dataclass
class CelebaIndex:
    """The prepared dataset: one row per kept photo."""

    image: np.ndarray  # (N,) file names
    identity: np.ndarray  # (N,) int CelebA identity
    landmarks: np.ndarray  # (N, 5, 2) frame pixels
    det_score: np.ndarray  # (N,)
    inter_eye: np.ndarray  # (N,) frame pixels
    split: np.ndarray  # (N,) "train" | "val"
    size: np.ndarray  # (N, 2) frame width, height

    def save(self, path: Path) -> None:
        np.savez(path, **self.__dict__)

    @classmethod
    def load(cls, path: Path) -> CelebaIndex:
        with np.load(path, allow_pickle=False) as data:
            return cls(**{key: data[key] for key in cls.__dataclass_fields__})

    def mask(self, split: str) -> np.ndarray:
        return self.split == split


def read_identities(path: Path, present: set[str]) -> dict[str, int]:
    """``image identity`` lines of the files present (the file covers all of CelebA)."""
    identities = {}
    for line in path.read_text().splitlines()[1:]:
        name, _, identity = line.partition(" ")
        if name in present:
            identities[name] = int(identity)
    return identities


def split_identities(identities: np.ndarray, val_fraction: float, seed: int) -> np.ndarray:
    """Seeded identity-disjoint train/val split."""
    unique = np.unique(identities)
    rng = np.random.default_rng(seed)
    val = set(rng.choice(unique, size=max(1, round(len(unique) * val_fraction)), replace=False).tolist())
    return np.where(np.isin(identities, list(val)), "val", "train")


class Detector:
    """CenterFace through the gateway's onnxruntime backend, called synchronously."""

    def __init__(self, models_dir: Path | None = None):
        runtime = ort_runtime([DETECTOR], models_dir)
        self.settings = runtime.settings
        self.backend = runtime.backend
        self.tensors = runtime.detector

    def largest(self, rgb: np.ndarray):
        """The largest face (by box area), trying a looser threshold if none passes the gateway's."""
        frame = letterbox(rgb, self.settings.det_max_side)
        heads = self.tensors.heads(self.backend.infer_sync(DETECTOR, {self.tensors.input: frame.blob}))
        size = (rgb.shape[1], rgb.shape[0])
        for threshold in (self.settings.det_threshold, FALLBACK_THRESHOLD):
            faces = decode(heads, frame, size, threshold, self.settings.det_nms_iou)
            if faces:
                return max(faces, key=lambda face: face.area)
        return None


def photo_folder(src: Path) -> Path:
    """``src/Celeb`` as the fetched repository lays it out, else ``src`` itself (photos copied out flat)."""
    return src / "Celeb" if (src / "Celeb").is_dir() else src


def read_rgb(path: Path) -> np.ndarray:
    return decode_image(path.read_bytes(), max_bytes=1 << 26, max_pixels=1 << 26, min_side=16).rgb


def prepare(src: Path, out: Path, *, val_fraction: float = 0.15, seed: int = 0, limit: int | None = None) -> None:
    """Detect, align and index every photo of ``src/Celeb`` (or of ``src``; largest face each)."""
    out.mkdir(parents=True, exist_ok=True)
    files = sorted(photo_folder(src).glob("*.jpg"))[:limit]
    identities = read_identities(src / "identity_CelebA.txt", {path.name for path in files})
    detector = Detector()
    rows, crops, missed = [], [], []
    start = time.perf_counter()
    for number, path in enumerate(files):
        if path.name not in identities:
            missed.append(path.name)
            continue
        rgb = read_rgb(path)
        face = detector.largest(rgb)
        if face is None:
            missed.append(path.name)
            continue
        crops.append(align(rgb, face.landmarks, CROP_SIZE).crop)
        rows.append(
            (path.name, identities[path.name], face.landmarks, face.score, face.inter_eye_distance, rgb.shape[:2])
        )
        if number % 500 == 0:
            log.info("%d/%d photos, %.1f s", number, len(files), time.perf_counter() - start)
    identity = np.array([row[1] for row in rows], dtype=np.int64)
    index = CelebaIndex(
        image=np.array([row[0] for row in rows]),
        identity=identity,
        landmarks=np.stack([row[2] for row in rows]).astype(np.float32),
        det_score=np.array([row[3] for row in rows], dtype=np.float32),
        inter_eye=np.array([row[4] for row in rows], dtype=np.float32),
        split=split_identities(identity, val_fraction, seed),
        size=np.array([(row[5][1], row[5][0]) for row in rows], dtype=np.int32),
    )
    index.save(out / "index.npz")
    np.save(out / "crops112.npy", np.stack(crops))
    (out / "missed.txt").write_text("\n".join(missed) + "\n")
    log.info(
        "kept %d of %d photos (%d identities, %d train / %d val photos), %d missed, %.0f s",
        len(rows),
        len(files),
        len(np.unique(identity)),
        index.mask("train").sum(),
        index.mask("val").sum(),
        len(missed),
        time.perf_counter() - start,
    )


def margin_transform(transform: np.ndarray, size: int, margin: float) -> np.ndarray:
    """Turn a 112 ArcFace frame -> crop transform into one for a ``size`` crop with ``margin`` of it on each side.

    The ArcFace template fills the inner ``size * (1 - 2 * margin)`` square; the border shows more context.
    """
    inner = size * (1.0 - 2.0 * margin)
    scaled = transform * (inner / CROP_SIZE)
    scaled[:, 2] += size * margin
    return scaled


def recrop(rgb: np.ndarray, landmarks: np.ndarray, size: int, margin: float = 0.0) -> np.ndarray:
    """Re-make an aligned crop at another size/margin from saved landmarks (same template as the gateway)."""
    transform = align(rgb, landmarks, CROP_SIZE).transform
    matrix = margin_transform(transform, size, margin)
    return cv2.warpAffine(rgb, matrix, (size, size), borderValue=0.0)


def recrop_all(src: Path, index: CelebaIndex, size: int, margin: float = 0.0) -> np.ndarray:
    """All photos of ``index`` re-cropped: (N, size, size, 3) uint8 RGB."""
    out = np.empty((len(index.image), size, size, 3), dtype=np.uint8)
    folder = photo_folder(src)
    for row, (name, landmarks) in enumerate(zip(index.image, index.landmarks, strict=True)):
        out[row] = recrop(read_rgb(folder / str(name)), landmarks, size, margin)
    return out


def load_crops(out: Path) -> tuple[CelebaIndex, np.ndarray]:
    """The prepared index and its 112x112 crops."""
    return CelebaIndex.load(out / "index.npz"), np.load(out / "crops112.npy", mmap_mode="r")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--src", type=Path, default=Path("data/celeba"))
    parser.add_argument("--out", type=Path, default=Path("data/celeba_aligned"))
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="first N photos only (smoke runs)")


def main(args: argparse.Namespace) -> int:
    """Run the command (``python -m fiqa`` parses its arguments with ``configure``)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    prepare(args.src, args.out, val_fraction=args.val_fraction, seed=args.seed, limit=args.limit)
    return 0
