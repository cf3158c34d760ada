"""Request and response models: the OpenAPI contract of the gateway."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Decision = Literal["accept", "reject"]
MapFormat = Literal["none", "png", "overlay", "array"]
MeasureSet = Literal["none", "default", "all"]
Profile = Literal["access_control", "enrolment"]


class ScoreOptions(BaseModel):
    """Per-request overrides; anything not listed is refused (422), so typos never pass silently."""

    model_config = ConfigDict(extra="forbid")
    max_faces: int | None = Field(None, ge=1, le=100, description="Score at most this many faces (largest first).")
    min_face_size: float | None = Field(None, ge=0, le=10_000, description="Minimum inter-eye distance, pixels.")
    models: list[str] | None = Field(
        None, min_length=1, max_length=8, description="Quality models to run; the first gives quality.score."
    )
    threshold: float | None = Field(None, ge=0, le=100, description="Accept at or above this 0..100 score.")
    single_face: bool | None = Field(None, description="Reject captures that show more than one face.")
    return_maps: MapFormat = Field("none", description="Per-pixel quality maps (from map-producing models).")
    measures: MeasureSet | list[str] = Field(
        "none",
        description="Component measures to return per face: none, default (those the policy profile checks), all, "
        "or a list of names (GET /v1/models lists them).",
    )
    profile: Profile | None = Field(None, description="Decision policy profile (default: the profile setting).")
    measure_thresholds: dict[str, float] | None = Field(
        None, description="Minimum 0..100 component per measure name, over the profile's; 0 switches a check off."
    )


class SelectOptions(ScoreOptions):
    """``POST /select`` options: those of ``/score``, and whether to follow each person through the burst."""

    track: bool = Field(
        False,
        description="Link faces across frames by position (box overlap between frames) and choose a best frame "
        "for each track (person); off: each frame is judged by its largest face.",
    )


class ImageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(None, max_length=256)
    data: str = Field(..., description="Base64 image bytes (JPEG, PNG, WebP, ...); a data: URL prefix is allowed.")


class ScoreRequest(BaseModel):
    """JSON form of ``POST /score``."""

    model_config = ConfigDict(extra="forbid")
    images: list[ImageIn] = Field(..., min_length=1)
    options: ScoreOptions = Field(default_factory=ScoreOptions)


class SelectRequest(BaseModel):
    """JSON form of ``POST /select``: the images are consecutive frames of one capture."""

    model_config = ConfigDict(extra="forbid")
    images: list[ImageIn] = Field(..., min_length=1)
    options: SelectOptions = Field(default_factory=SelectOptions)


class Box(BaseModel):
    x1: float
    y1: float
    x2: float
    y2: float


class Quality(BaseModel):
    score: float = Field(..., description="0..100, higher is better; -1 where it could not be assessed.")
    model: str = Field(..., description="The model that gives ``score``.")
    scores: dict[str, float] = Field(default_factory=dict, description="0..100 score per model.")
    raw: dict[str, float] = Field(default_factory=dict, description="Raw output per model (model card scale).")


class QualityMap(BaseModel):
    """A per-pixel quality map of one face (``return_maps``); higher / brighter is better."""

    format: Literal["png", "overlay", "array"]
    width: int
    height: int
    transform: list[list[float]] = Field(
        ..., description="2x3 affine from the original frame (x, y, 1) to this map's pixel (x, y)."
    )
    data: str | None = Field(None, description="png: 8-bit greyscale PNG; overlay: colour PNG (base64).")
    values: list[list[float]] | None = Field(None, description="array: rows of map values in 0..1.")


class MeasureValue(BaseModel):
    raw: float = Field(..., description="The measure's raw value (scale in /v1/models); -1 when not assessable.")
    score: float = Field(..., description="0..100 component, higher is better; -1 when not assessable.")
    reason: str | None = Field(None, description="Why the measure could not be assessed.")


class FaceResult(BaseModel):
    index: int
    box: Box
    landmarks: list[list[float]] = Field(..., description="5 (x, y): left eye, right eye, nose, mouth corners.")
    detection_score: float
    inter_eye_distance: float
    out_of_frame: float = Field(..., description="Share of the aligned crop that lies outside the image.")
    quality: Quality
    decision: Decision
    reasons: list[str]
    hints: list[str] = Field(default_factory=list, description="What the person can do, one per reason.")
    measures: dict[str, MeasureValue] = Field(
        default_factory=dict, description="Component measures (options.measures)."
    )
    maps: dict[str, QualityMap] = Field(
        default_factory=dict, description="Quality maps per map-producing model (return_maps != none)."
    )


class ErrorInfo(BaseModel):
    code: str
    message: str


class ImageResult(BaseModel):
    index: int
    id: str
    status: Literal["ok", "error"]
    width: int | None = None
    height: int | None = None
    error: ErrorInfo | None = None
    faces_detected: int = 0
    faces: list[FaceResult] = Field(default_factory=list)
    decision: Decision | None = None
    reasons: list[str] = Field(default_factory=list)
    hints: list[str] = Field(default_factory=list)


class ModelRef(BaseModel):
    name: str
    version: str


class ScoreResponse(BaseModel):
    request_id: str
    images: list[ImageResult]
    timings_ms: dict[str, float]
    models: list[ModelRef]
    warnings: list[str] = Field(default_factory=list)


class FrameResult(BaseModel):
    """One frame of a burst, in short: its largest face's decision and quality score, or its error."""

    index: int
    id: str
    status: Literal["ok", "error"]
    decision: Decision | None = None
    reasons: list[str] = Field(default_factory=list)
    hints: list[str] = Field(default_factory=list, description="What the person can do, one per reason.")
    score: float | None = Field(None, description="quality.score of the frame's largest face; null without one.")
    error: ErrorInfo | None = None


class Why(BaseModel):
    """Why a frame won: the first criterion (quality, then component measures, then face size) that separates
    it from the runner-up, with the margin on that criterion."""

    decided_by: Literal["only_candidate", "quality", "measures", "size", "earliest"]
    candidates: int = Field(..., description="Accepted faces it was chosen from.")
    runner_up_frame: int | None = None
    margin: float | None = Field(None, description="Its lead on ``decided_by`` over the runner-up.")
    message: str


class Chosen(BaseModel):
    """The chosen frame (index and id in the request), its face and why it won."""

    frame: int
    id: str
    face: FaceResult
    why: Why


class TrackResult(BaseModel):
    """One person followed through the burst (``options.track``): the frames showing them and their best one."""

    track: int
    frames: list[int]
    chosen: Chosen | None = None
    reasons: list[str] = Field(
        default_factory=list, description="Without an accepted face: the reasons that rejected the best candidate."
    )


class SelectResponse(BaseModel):
    request_id: str
    chosen: Chosen | None = Field(..., description="The best accepted frame; null when no frame is accepted.")
    reasons: list[str] = Field(
        default_factory=list, description="When chosen is null: the reasons that rejected the best candidate."
    )
    tracks: list[TrackResult] = Field(default_factory=list, description="One per person with options.track.")
    frames: list[FrameResult]
    timings_ms: dict[str, float]
    models: list[ModelRef]
    warnings: list[str] = Field(default_factory=list)


class ErrorBody(BaseModel):
    error: ErrorInfo
    details: list[dict] = Field(default_factory=list)
    request_id: str | None = None
