"""Domain results (``service.results``) -> the response schema: rounding, map rendering and field names live here,
so the pipeline never builds an HTTP answer. The CLI prints the same response."""

from __future__ import annotations

from service.quality.maps import render
from service.results import ScoredFace, ScoredImage, ScoredRequest
from service.schemas import (
    Box,
    ErrorInfo,
    FaceResult,
    ImageResult,
    MapFormat,
    MeasureValue,
    ModelRef,
    Quality,
    ScoreResponse,
)


def _decision(accepted: bool) -> str:
    return "accept" if accepted else "reject"


def _face(scored: ScoredFace, map_format: MapFormat) -> FaceResult:
    face, quality = scored.face, scored.quality
    x1, y1, x2, y2 = map(float, face.box)
    maps = {}
    if map_format != "none":
        maps = {
            name: render(values, scored.aligned.crop, scored.aligned.transform, map_format)
            for name, values in scored.maps.items()
        }
    return FaceResult(
        index=scored.index,
        box=Box(x1=x1, y1=y1, x2=x2, y2=y2),
        landmarks=[[float(x), float(y)] for x, y in face.landmarks],
        detection_score=face.score,
        inter_eye_distance=face.inter_eye_distance,
        out_of_frame=scored.aligned.out_of_frame,
        quality=Quality(
            score=round(quality.score, 3),
            model=quality.model,
            scores={name: round(value, 3) for name, value in quality.scores.items()},
            raw=quality.raw,
        ),
        decision=_decision(scored.accepted),
        reasons=scored.reasons,
        hints=scored.hints,
        measures={
            name: MeasureValue(raw=result.raw, score=result.score, reason=result.reason)
            for name, result in scored.measures.items()
        },
        maps=maps,
    )


def _image(image: ScoredImage, map_format: MapFormat) -> ImageResult:
    if image.error is not None:
        error = ErrorInfo(code=image.error.code, message=image.error.message)
        return ImageResult(index=image.index, id=image.id, status="error", error=error)
    return ImageResult(
        index=image.index,
        id=image.id,
        status="ok",
        width=image.width,
        height=image.height,
        faces_detected=image.detected,
        faces=[_face(face, map_format) for face in image.faces],
        decision=_decision(image.accepted),
        reasons=image.reasons,
        hints=image.hints,
    )


def score_response(scored: ScoredRequest, request_id: str, map_format: MapFormat) -> ScoreResponse:
    """The ``POST /score`` answer for a scored request; maps are rendered in ``map_format``."""
    return ScoreResponse(
        request_id=request_id,
        images=[_image(image, map_format) for image in scored.images],
        timings_ms=scored.timings_ms,
        models=[ModelRef(name=name, version=version) for name, version in scored.models.items()],
        warnings=scored.warnings,
    )
