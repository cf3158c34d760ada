"""Best shot of a burst: the frames of one capture, scored by the pipeline, ranked to choose the one to keep (one per
person when faces are tracked). Pure functions over ``ScoredRequest``: the API turns a ``Selection`` into the
``POST /select`` answer.

Ranking: accepted faces only; quality first, where scores within ``QUALITY_TIE`` points count as equal (a camera's
consecutive frames differ by noise), then the mean of the component measures where every contender has them, then
the face size (inter-eye distance), then the earliest frame. Measures are there only when the request asks for them
(``options.measures``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from service.results import ScoredFace, ScoredImage, ScoredRequest

QUALITY_TIE = 1.0  # 0..100 points: closer scores are a tie, decided by the next criterion
MEASURES_TIE = 1.0  # the same for the mean of the 0..100 component measures
MIN_IOU = 0.3  # the least box overlap (frame-relative coordinates) that links a face to a track

Criterion = Literal["only_candidate", "quality", "measures", "size", "earliest"]


@dataclass(frozen=True)
class Candidate:
    """One face of one frame, a contender for the best shot."""

    frame: ScoredImage
    face: ScoredFace

    @property
    def quality(self) -> float:
        return self.face.quality.score

    @property
    def measures(self) -> float | None:
        return measures_mean(self.face)

    @property
    def size(self) -> float:
        return self.face.face.inter_eye_distance

    def box(self) -> np.ndarray:
        """The face's box in frame-relative coordinates (0..1), so frames of different sizes compare."""
        scale = np.array([self.frame.width, self.frame.height] * 2, dtype=np.float64)
        return np.asarray(self.face.face.box, dtype=np.float64) / scale


@dataclass(frozen=True)
class Win:
    """Why the chosen face won: the criterion that left it alone, over how many accepted faces, against whom."""

    decided_by: Criterion
    candidates: int
    runner_up: Candidate | None = None
    margin: float | None = None


@dataclass(frozen=True)
class Pick:
    """The outcome over some candidates: the chosen one and why, or (none accepted) the best one's reasons."""

    chosen: Candidate | None
    why: Win | None
    reasons: list[str]


@dataclass(frozen=True)
class Track:
    """One person followed through the burst: the frames (indices) showing them and their best shot."""

    number: int
    frames: list[int]
    pick: Pick


@dataclass(frozen=True)
class Selection:
    """The best shot of the burst, and one per track where faces are tracked."""

    best: Pick
    tracks: list[Track]


def measures_mean(face: ScoredFace) -> float | None:
    """Mean 0..100 component of the face's assessed measures (those ``options.measures`` asked for), None without
    any."""
    scores = [result.score for result in face.measures.values() if result.assessed]
    return sum(scores) / len(scores) if scores else None


def _criteria() -> list[tuple[Criterion, Callable[[Candidate], float | None], float]]:
    return [
        ("quality", lambda c: c.quality, QUALITY_TIE),
        ("measures", lambda c: c.measures, MEASURES_TIE),
        ("size", lambda c: c.size, 0.0),
    ]


def _order(candidate: Candidate) -> tuple[float, float, float, int]:
    """Strict ranking key (best first when sorted descending), for candidates that all fail the policy."""
    measures = candidate.measures
    return candidate.quality, -np.inf if measures is None else measures, candidate.size, -candidate.frame.index


def choose(candidates: Iterable[Candidate]) -> Pick:
    """The best accepted candidate and why it won; without one, the reasons that rejected the best candidate."""
    everyone = list(candidates)
    accepted = [c for c in everyone if c.face.accepted]
    if not accepted:
        if not everyone:
            return Pick(None, None, ["no_face"])
        return Pick(None, None, list(max(everyone, key=_order).face.reasons))
    pool = sorted(accepted, key=lambda c: c.frame.index)
    if len(pool) == 1:
        return Pick(pool[0], Win("only_candidate", 1), [])
    for name, value, tie in _criteria():
        values = {id(c): value(c) for c in pool}
        if None in values.values():
            continue  # a criterion some contenders lack decides nothing
        top = max(v for v in values.values() if v is not None)
        leaders = [c for c in pool if (values[id(c)] or 0.0) >= top - tie]
        if len(leaders) == 1:
            (winner,) = leaders
            runner = max((c for c in pool if c is not winner), key=lambda c: values[id(c)] or 0.0)
            margin = top - (values[id(runner)] or 0.0)
            return Pick(winner, Win(name, len(accepted), runner, round(margin, 3)), [])
        pool = leaders
    return Pick(pool[0], Win("earliest", len(accepted), pool[1]), [])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def link(frames: Iterable[ScoredImage]) -> list[list[Candidate]]:
    """Faces linked into tracks frame by frame: each face joins the track whose latest box overlaps it most (greedy,
    best overlap first, at least ``MIN_IOU``, one face per track and frame), or starts a new track. Frames in error
    are passed over, so a broken frame does not split a track."""
    tracks: list[list[Candidate]] = []
    for frame in frames:
        if frame.error is not None:
            continue
        faces = [Candidate(frame, face) for face in frame.faces]
        pairs = sorted(
            (
                (_iou(track[-1].box(), face.box()), t, f)
                for t, track in enumerate(tracks)
                for f, face in enumerate(faces)
            ),
            key=lambda pair: (-pair[0], pair[1], pair[2]),
        )
        taken_tracks: set[int] = set()
        placed: set[int] = set()
        for overlap, t, f in pairs:
            if overlap < MIN_IOU:
                break
            if t in taken_tracks or f in placed:
                continue
            tracks[t].append(faces[f])
            taken_tracks.add(t)
            placed.add(f)
        tracks.extend([face] for f, face in enumerate(faces) if f not in placed)
    return tracks


def select(scored: ScoredRequest, track: bool) -> Selection:
    """The burst's best shot: over every frame's largest face, or with ``track`` over every face, each track (person)
    also getting its own."""
    if not track:
        primaries = (Candidate(frame, frame.faces[0]) for frame in scored.images if frame.faces)
        return Selection(choose(primaries), [])
    tracks = link(scored.images)
    return Selection(
        best=choose(candidate for faces in tracks for candidate in faces),
        tracks=[
            Track(number, [candidate.frame.index for candidate in faces], choose(faces))
            for number, faces in enumerate(tracks)
        ],
    )
