"""Evaluation datasets: samples (image bytes + identity) and the comparisons to make between them.

Three layouts: a folder per identity (or a flat folder whose file names start with the identity), an LFW-style
``pairs.txt`` beside an ``images/<Name>/<Name>_<iiii>.jpg`` tree, and insightface verification ``.bin`` files
(a pickled ``(list of JPEG bytes, issame list)`` where items ``2i`` and ``2i+1`` form pair ``i``).
Folder datasets compare all against all.
"""

from __future__ import annotations

import hashlib
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@dataclass(frozen=True)
class Sample:
    """One image of a dataset; ``load`` returns its encoded bytes (files are read lazily)."""

    key: str  # unique within the dataset, stable across runs (used by the cache)
    identity: str
    load: Callable[[], bytes] = field(repr=False, compare=False)


@dataclass
class Dataset:
    """Samples plus comparisons (sample index pairs and whether each pair is mated)."""

    name: str
    samples: list[Sample]
    first: np.ndarray
    second: np.ndarray
    mated: np.ndarray
    protocol: str
    fold: np.ndarray | None = None  # per comparison, for protocols with folds (LFW View 2: 1..10)

    @property
    def needed(self) -> np.ndarray:
        """Samples some comparison uses: only these are processed."""
        mask = np.zeros(len(self.samples), dtype=bool)
        mask[self.first] = True
        mask[self.second] = True
        return mask

    def select_folds(self, folds: list[int]) -> Dataset:
        """The same samples (so caches are shared) with only the comparisons of the given folds."""
        if self.fold is None:
            raise ValueError(f"{self.name}: this protocol has no folds")
        keep = np.isin(self.fold, folds)
        label = ",".join(map(str, folds))
        return Dataset(
            self.name,
            self.samples,
            self.first[keep],
            self.second[keep],
            self.mated[keep],
            f"{self.protocol}, folds {label}",
            self.fold[keep],
        )

    @property
    def fingerprint(self) -> str:
        """Changes when the sample list changes, so cached per-sample results are never reused wrongly."""
        digest = hashlib.sha256("\n".join(f"{s.key}\t{s.identity}" for s in self.samples).encode())
        return digest.hexdigest()[:16]

    def summary(self) -> dict[str, int | str]:
        return {
            "name": self.name,
            "protocol": self.protocol,
            "samples": int(self.needed.sum()),
            "identities": len({s.identity for s, used in zip(self.samples, self.needed, strict=True) if used}),
            "mated": int(self.mated.sum()),
            "non_mated": int((~self.mated).sum()),
        }


def all_vs_all(identities: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every unordered pair of distinct samples."""
    first, second = np.triu_indices(len(identities), k=1)
    labels = np.asarray(identities)
    return first.astype(np.int64), second.astype(np.int64), labels[first] == labels[second]


def _file_loader(path: Path) -> Callable[[], bytes]:
    return path.read_bytes


def from_samples(name: str, samples: list[Sample], protocol: str = "all-vs-all") -> Dataset:
    first, second, mated = all_vs_all([s.identity for s in samples])
    return Dataset(name, samples, first, second, mated, protocol)


def load_folders(root: Path, name: str | None = None) -> Dataset:
    """``root/<identity>/<image>``: one folder per identity; all-vs-all comparisons."""
    root = Path(root)
    samples = [
        Sample(str(path.relative_to(root)), folder.name, _file_loader(path))
        for folder in sorted(p for p in root.iterdir() if p.is_dir())
        for path in sorted(folder.iterdir())
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]
    return from_samples(name or root.name, samples)


def load_flat(root: Path, pattern: str = r"^([^.]+)\.", name: str | None = None) -> Dataset:
    """``root/<file>`` with the identity in the file name (group 1 of ``pattern``), e.g. Yale's
    ``subject01.happy``; files the pattern does not match, and text files, are skipped."""
    regex = re.compile(pattern)
    samples = []
    for path in sorted(p for p in Path(root).iterdir() if p.is_file()):
        match = regex.match(path.name)
        if match and path.suffix.lower() not in {".txt", ".md"}:
            samples.append(Sample(path.name, match.group(1), _file_loader(path)))
    return from_samples(name or Path(root).name, samples)


def load_lfw_pairs(pairs_file: Path, images: Path | None = None, name: str = "lfw") -> Dataset:
    """LFW View-2 ``pairs.txt``: a ``folds n`` header, then ``Name i j`` (mated) or ``A i B j`` (non-mated)."""
    pairs_file = Path(pairs_file)
    images = Path(images) if images else pairs_file.parent / "images"
    lines = pairs_file.read_text().split("\n")
    header = lines[0].split()
    per_fold = 2 * int(header[1]) if len(header) == 2 else None
    index: dict[str, int] = {}
    samples: list[Sample] = []

    def sample(person: str, number: str) -> int:
        key = f"{person}/{person}_{int(number):04d}.jpg"
        if key not in index:
            index[key] = len(samples)
            samples.append(Sample(key, person, _file_loader(images / key)))
        return index[key]

    first, second, mated = [], [], []
    for line in lines[1:]:
        parts = line.split()
        if len(parts) == 3:
            first.append(sample(parts[0], parts[1]))
            second.append(sample(parts[0], parts[2]))
            mated.append(True)
        elif len(parts) == 4:
            first.append(sample(parts[0], parts[1]))
            second.append(sample(parts[2], parts[3]))
            mated.append(False)
        elif parts:
            raise ValueError(f"{pairs_file}: unreadable line {line!r}")
    fold = np.arange(len(first)) // per_fold + 1 if per_fold else None
    return Dataset(name, samples, np.asarray(first), np.asarray(second), np.asarray(mated, dtype=bool), "pairs", fold)


def load_bin(path: Path, name: str | None = None) -> Dataset:
    """insightface verification ``.bin``: identities are unknown, so each image is its own sample and the
    comparisons are exactly the listed pairs."""
    with Path(path).open("rb") as handle:
        blobs, issame = pickle.load(handle, encoding="bytes")
    if len(blobs) != 2 * len(issame):
        raise ValueError(f"{path}: {len(blobs)} images for {len(issame)} pairs")
    samples = [
        Sample(f"{i:06d}", f"pair{i // 2}-{'a' if i % 2 == 0 else 'b'}", (lambda b=bytes(blob): b))
        for i, blob in enumerate(blobs)
    ]
    count = len(issame)
    first = np.arange(count, dtype=np.int64) * 2
    return Dataset(name or Path(path).stem, samples, first, first + 1, np.asarray(issame, dtype=bool), "pairs")


def open_dataset(source: Path, layout: str = "auto", name: str | None = None, pattern: str | None = None) -> Dataset:
    """Pick the loader from ``layout`` or, with ``auto``, from what ``source`` looks like."""
    source = Path(source)
    if layout == "auto":
        if source.suffix == ".bin":
            layout = "bin"
        elif source.name == "pairs.txt" or (source / "pairs.txt").is_file():
            layout = "pairs"
        elif any(p.is_dir() for p in source.iterdir()):
            layout = "folders"
        else:
            layout = "flat"
    if layout == "bin":
        return load_bin(source, name)
    if layout == "pairs":
        pairs = source if source.is_file() else source / "pairs.txt"
        return load_lfw_pairs(pairs, name=name or pairs.parent.name)
    if layout == "folders":
        return load_folders(source, name)
    if layout == "flat":
        return load_flat(source, pattern or r"^([^.]+)\.", name)
    raise ValueError(f"unknown dataset layout {layout!r}")
