"""Domain results (``service.results``) -> the response schema: rounding, map rendering and field names live here,
so the pipeline never builds an HTTP answer. The CLI prints the same response."""

from __future__ import annotations

from typing import Any

from service.quality.maps import render
from service.results import ScoredFace, ScoredImage, ScoredRequest
from service.schemas import (
    Box,
    Chosen,
    ErrorInfo,
    FaceResult,
    FrameResult,
    ImageResult,
    MapFormat,
    MeasureValue,
    ModelRef,
    Quality,
    ScoreResponse,
    SelectResponse,
    TrackResult,
    Why,
)
from service.select import Pick, Selection, Win


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


def _outcome(image: ScoredImage) -> dict[str, Any]:
    """What an image's answer and a frame's short result share: which image, and its error or its decision."""
    if image.error is not None:
        error = ErrorInfo(code=image.error.code, message=image.error.message)
        return {"index": image.index, "id": image.id, "status": "error", "error": error}
    decision = {"decision": _decision(image.accepted), "reasons": image.reasons, "hints": image.hints}
    return {"index": image.index, "id": image.id, "status": "ok", **decision}


def _image(image: ScoredImage, map_format: MapFormat) -> ImageResult:
    if image.error is not None:
        return ImageResult(**_outcome(image))
    return ImageResult(
        **_outcome(image),
        width=image.width,
        height=image.height,
        faces_detected=image.detected,
        faces=[_face(face, map_format) for face in image.faces],
    )


def _models(scored: ScoredRequest) -> list[ModelRef]:
    return [ModelRef(name=name, version=version) for name, version in scored.models.items()]


def score_response(scored: ScoredRequest, request_id: str, map_format: MapFormat) -> ScoreResponse:
    """The ``POST /score`` answer for a scored request; maps are rendered in ``map_format``."""
    return ScoreResponse(
        request_id=request_id,
        images=[_image(image, map_format) for image in scored.images],
        timings_ms=scored.timings_ms,
        models=_models(scored),
        warnings=scored.warnings,
    )


def _frame(image: ScoredImage) -> FrameResult:
    score = round(image.faces[0].quality.score, 3) if image.faces else None
    return FrameResult(**_outcome(image), score=score)


_WON_BY = {
    "only_candidate": "the only accepted face",
    "quality": "the highest quality",
    "measures": "quality within a tie of frame {runner}'s, better component measures",
    "size": "quality within a tie of frame {runner}'s, the larger face",
    "earliest": "as good as frame {runner}'s and earlier",
}


def _why(win: Win) -> Why:
    runner = None if win.runner_up is None else win.runner_up.frame.index
    message = _WON_BY[win.decided_by].format(runner=runner)
    if win.margin is not None:
        message += f" (+{win.margin:g} {win.decided_by} over frame {runner})"
    return Why(
        decided_by=win.decided_by, candidates=win.candidates, runner_up_frame=runner, margin=win.margin, message=message
    )


def _chosen(pick: Pick, map_format: MapFormat) -> Chosen | None:
    if pick.chosen is None or pick.why is None:
        return None
    frame = pick.chosen.frame
    return Chosen(frame=frame.index, id=frame.id, face=_face(pick.chosen.face, map_format), why=_why(pick.why))


def select_response(
    scored: ScoredRequest, selection: Selection, request_id: str, map_format: MapFormat
) -> SelectResponse:
    """The ``POST /select`` answer: the chosen frame (and one per track), every frame in short."""
    return SelectResponse(
        request_id=request_id,
        chosen=_chosen(selection.best, map_format),
        reasons=selection.best.reasons,
        tracks=[
            TrackResult(
                track=track.number,
                frames=track.frames,
                chosen=_chosen(track.pick, map_format),
                reasons=track.pick.reasons,
            )
            for track in selection.tracks
        ],
        frames=[_frame(image) for image in scored.images],
        timings_ms=scored.timings_ms,
        models=_models(scored),
        warnings=scored.warnings,
    )
