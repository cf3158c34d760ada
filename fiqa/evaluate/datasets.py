"""Evaluation datasets: samples (image bytes + identity) and the comparisons to make between them.

Layouts: a folder per identity (or a flat folder whose file names start with the identity), an LFW-style
``pairs.txt`` beside an ``images/<Name>/<Name>_<iiii>.jpg`` tree (``pairs``: its protocol pairs; ``pairs-all``: the
images it names, compared all against all), insightface verification ``.bin`` files (a pickled ``(list of JPEG
bytes, issame list)`` where items ``2i`` and ``2i+1`` form pair ``i``), and ``celeba-val``: the validation
identities of the CelebA subset (the split ``prepare-celeba`` makes).

All-against-all datasets keep every mated comparison and every non-mated one up to ``max_non_mated``; above it a
seeded uniform sample of the non-mated comparisons (without repeats), so that FMR 1e-3 and 1e-4 rest on hundreds of
impostor scores instead of LFW View-2's three, while the sample stays the same from run to run.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from fiqa.data.lfw_pairs import image_key, read_pairs

# Enough non-mated comparisons for FMR 1e-4 to rest on 200 impostor scores.
MAX_NON_MATED = 2_000_000
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
    family: str | None = None  # a subset of another dataset's comparisons shares that dataset's cached results

    @property
    def cache_name(self) -> str:
        return self.family or self.name

    def identity_codes(self) -> np.ndarray:
        """(N,) int identity of each sample, for resampling identities in the bootstrap."""
        return np.unique([s.identity for s in self.samples], return_inverse=True)[1].astype(np.int64)

    def subset(self, keep: np.ndarray, name: str, protocol: str) -> Dataset:
        """The same samples (and cache) with only the comparisons ``keep`` selects."""
        fold = None if self.fold is None else self.fold[keep]
        return Dataset(
            name, self.samples, self.first[keep], self.second[keep], self.mated[keep], protocol, fold, self.cache_name
        )

    @property
    def in_mated(self) -> np.ndarray:
        """Samples some mated comparison uses: under the fixed-threshold convention only their quality matters
        (non-mated comparisons set the threshold and are never discarded)."""
        mask = np.zeros(len(self.samples), dtype=bool)
        mask[self.first[self.mated]] = True
        mask[self.second[self.mated]] = True
        return mask

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
        label = ",".join(map(str, folds))
        return self.subset(np.isin(self.fold, folds), self.name, f"{self.protocol}, folds {label}")

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


def all_comparisons(
    identities: list[str], max_non_mated: int = MAX_NON_MATED, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Every mated pair of distinct samples, and every non-mated pair up to ``max_non_mated`` (else a seeded
    uniform sample of that many), sorted by (first, second); with a protocol sentence saying which."""
    codes = np.unique(identities, return_inverse=True)[1].astype(np.int64)
    count = codes.size
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    groups = [np.sort(g) for g in np.split(order, bounds) if g.size > 1]
    pairs = [np.stack([g[i], g[j]], axis=1) for g in groups for i, j in [np.triu_indices(g.size, k=1)]]
    mated = np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)
    total_non_mated = count * (count - 1) // 2 - len(mated)
    if total_non_mated <= max_non_mated:
        first, second = np.triu_indices(count, k=1)
        non_mated = np.stack([first, second], axis=1)[codes[first] != codes[second]]
        protocol = "all-vs-all"
    else:
        non_mated = _sample_non_mated(codes, max_non_mated, seed)
        protocol = (
            f"every mated pair; {max_non_mated:,} of the {total_non_mated:,} non-mated pairs "
            f"(seeded uniform sample, seed {seed})"
        )
    both = np.concatenate([mated, non_mated]).astype(np.int64)
    both = both[np.lexsort((both[:, 1], both[:, 0]))]
    first, second = both[:, 0], both[:, 1]
    return first, second, codes[first] == codes[second], protocol


def _sample_non_mated(codes: np.ndarray, wanted: int, seed: int) -> np.ndarray:
    """``wanted`` distinct non-mated pairs (i < j) drawn uniformly with a seeded generator."""
    count = codes.size
    rng = np.random.default_rng(seed)
    found = np.zeros(0, dtype=np.int64)
    while found.size < wanted:
        draw = rng.integers(0, count, size=(2 * (wanted - found.size) + 1024, 2))
        low, high = draw.min(axis=1), draw.max(axis=1)
        keys = low * count + high
        keys = keys[(low != high) & (codes[low] != codes[high])]
        # Keep the first occurrence in draw order, so the sample depends only on the seed.
        keys = np.concatenate([found, keys])
        _, first_seen = np.unique(keys, return_index=True)
        found = keys[np.sort(first_seen)][:wanted]
    return np.stack([found // count, found % count], axis=1)


def _file_loader(path: Path) -> Callable[[], bytes]:
    return path.read_bytes


def encode_png(rgb: np.ndarray) -> bytes:
    """Lossless bytes of a generated image (a degraded copy, a prepared crop), read back as any sample is."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def from_samples(
    name: str, samples: list[Sample], protocol: str = "", max_non_mated: int = MAX_NON_MATED, seed: int = 0
) -> Dataset:
    """Samples compared all against all (non-mated comparisons sampled above ``max_non_mated``)."""
    first, second, mated, compared = all_comparisons([s.identity for s in samples], max_non_mated, seed)
    return Dataset(name, samples, first, second, mated, protocol or compared)


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
    per_fold, pairs = read_pairs(pairs_file)
    index: dict[str, int] = {}
    samples: list[Sample] = []

    def sample(person: str, number: int) -> int:
        key = image_key(person, number)
        if key not in index:
            index[key] = len(samples)
            samples.append(Sample(key, person, _file_loader(images / key)))
        return index[key]

    first, second, mated = [], [], []
    for pair in pairs:
        first.append(sample(*pair.first))
        second.append(sample(*pair.second))
        mated.append(pair.mated)
    fold = np.arange(len(first)) // per_fold + 1 if per_fold else None
    return Dataset(name, samples, np.asarray(first), np.asarray(second), np.asarray(mated, dtype=bool), "pairs", fold)


def load_lfw_images(pairs_file: Path, name: str = "lfw", seed: int = 0) -> Dataset:
    """The images LFW View-2's ``pairs.txt`` names, compared all against all (not only its 6,000 pairs)."""
    protocol = load_lfw_pairs(pairs_file, name=name)
    return from_samples(name, protocol.samples, seed=seed)


def load_celeba_val(folder: Path, name: str = "celeba-val", val_fraction: float = 0.15, seed: int = 0) -> Dataset:
    """The validation identities of the CelebA subset (the model-selection set; never trained on), compared all
    against all. ``folder`` holds the photos (directly or in ``Celeb/``) and ``identity_CelebA.txt``; the split is
    ``prepare-celeba``'s own (the same seeded draw over the same identities)."""
    from fiqa.data.celeba import read_identities, split_identities  # pulls the detector: only for this layout

    folder = Path(folder)
    photos = folder / "Celeb" if (folder / "Celeb").is_dir() else folder
    files = {path.name: path for path in sorted(photos.glob("*.jpg"))}
    identities = read_identities(folder / "identity_CelebA.txt", set(files))
    names = sorted(identities)
    split = split_identities(np.asarray([identities[n] for n in names]), val_fraction, seed)
    samples = [
        Sample(n, str(identities[n]), _file_loader(files[n]))
        for n, part in zip(names, split, strict=True)
        if part == "val"
    ]
    return from_samples(name, samples)


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
    if layout in ("pairs", "pairs-all"):
        pairs = source if source.is_file() else source / "pairs.txt"
        loader = load_lfw_pairs if layout == "pairs" else load_lfw_images
        return loader(pairs, name=name or pairs.parent.name)
    if layout == "celeba-val":
        return load_celeba_val(source, name or "celeba-val")
    if layout == "folders":
        return load_folders(source, name)
    if layout == "flat":
        return load_flat(source, pattern or r"^([^.]+)\.", name)
    raise ValueError(f"unknown dataset layout {layout!r}")
