"""What scoring a request produces, as plain data: the pipeline returns these, and only the API (or the CLI) turns
them into the response schema. Nothing here is rounded, rendered or named after an HTTP field."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from service.align import AlignedFace
from service.decision import NOT_ASSESSED
from service.detect import Face
from service.errors import ServiceError
from service.measures import MeasureResult


@dataclass(frozen=True)
class FaceQuality:
    """One face's quality: ``score`` by the primary model (``NOT_ASSESSED`` when the crop shows no face), and the
    0..100 and raw values of every model that ran (empty when not assessed)."""

    model: str
    score: float = NOT_ASSESSED
    scores: dict[str, float] = field(default_factory=dict)
    raw: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoredFace:
    """One detected face: where it is, its aligned crop, its quality, the policy's reasons to reject it and their
    hints, the component measures asked for, and the per-pixel maps (faces, in 0..1) of the map-producing models when
    they were asked for."""

    index: int
    face: Face
    aligned: AlignedFace
    quality: FaceQuality
    reasons: list[str]
    hints: list[str] = field(default_factory=list)
    measures: dict[str, MeasureResult] = field(default_factory=dict)
    maps: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return not self.reasons


@dataclass(frozen=True)
class ScoredImage:
    """One image of the request: its error (nothing else is set then), or its size, faces, image-level reasons and
    their hints."""

    index: int
    id: str
    error: ServiceError | None = None
    width: int = 0
    height: int = 0
    detected: int = 0
    faces: list[ScoredFace] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.error is None and not self.reasons


@dataclass(frozen=True)
class ScoredRequest:
    """Every image's result, the models that ran (name -> card version), stage timings and warnings."""

    images: list[ScoredImage]
    models: dict[str, str]
    timings_ms: dict[str, float]
    warnings: list[str]
