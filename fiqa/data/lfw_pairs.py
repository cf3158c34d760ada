"""LFW View-2's ``pairs.txt``: a ``folds n`` header, then ``Name i j`` (mated) or ``A i B j`` (non-mated) lines.

Read in one place, so that the evaluation (which compares the pairs) and the extra training set (which must leave
out every person the benchmark names) agree on what the file says. Also the seeded sample of LFW photos the
evaluation-only commands (IFQA's maps, the component measures' validation) damage and measure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Pair:
    """One comparison: two (person, image number) photos and whether they show the same person."""

    first: tuple[str, int]
    second: tuple[str, int]
    mated: bool


def read_pairs(pairs_file: Path) -> tuple[int | None, list[Pair]]:
    """(pairs per fold, from the header; None without one) and the pairs in file order."""
    lines = Path(pairs_file).read_text().split("\n")
    header = lines[0].split()
    per_fold = 2 * int(header[1]) if len(header) == 2 else None
    pairs = []
    for line in lines[1:]:
        parts = line.split()
        if len(parts) == 3:
            pairs.append(Pair((parts[0], int(parts[1])), (parts[0], int(parts[2])), True))
        elif len(parts) == 4:
            pairs.append(Pair((parts[0], int(parts[1])), (parts[2], int(parts[3])), False))
        elif parts:
            raise ValueError(f"{pairs_file}: unreadable line {line!r}")
    return per_fold, pairs


def image_key(person: str, number: int) -> str:
    """A photo's path under the LFW image folder."""
    return f"{person}/{person}_{number:04d}.jpg"


def lfw_paths(lfw: Path, count: int, seed: int) -> list[Path]:
    """First image of ``count`` randomly chosen (seeded) LFW identities."""
    people = sorted(path for path in (lfw / "images").iterdir() if path.is_dir())
    chosen = np.random.default_rng(seed).choice(len(people), size=min(count, len(people)), replace=False)
    return [sorted(people[i].glob("*.jpg"))[0] for i in sorted(chosen)]
