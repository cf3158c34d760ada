"""The gateway's routes: score, select (best shot of a burst), health, readiness, the model list and the Prometheus
endpoint (its own router, which the app may leave out). Each reads what it needs from the app state the lifespan
filled (the pipeline) and the settings; the protected ones depend on ``access``."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service import logs
from service.api import access
from service.api.parsing import BodyForm, parse_score_request, score_form, select_form
from service.api.responses import score_response, select_response
from service.decision import HINTS, PROFILES, profile_thresholds
from service.errors import BackendUnavailable, RequestTimeout
from service.measures import MEASURES, NOT_PROVIDED
from service.pipeline import Pipeline
from service.results import ScoredRequest
from service.schemas import ErrorBody, ScoreOptions, ScoreResponse, SelectOptions, SelectResponse
from service.select import select as select_best
from service.settings import Settings

router = APIRouter()
metrics_router = APIRouter()

INTERNAL: dict[int | str, dict[str, Any]] = {500: {"model": ErrorBody}}
ACCESS_RESPONSES: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (401, 429)}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ACCESS_RESPONSES,
    **{code: {"model": ErrorBody} for code in (400, 413, 415, 422, 500, 503, 504)},
}
PROTECTED = [Depends(access.client)]
# What /v1/models shows only with ?detail=full: how a model was trained (command lines with paths) and what
# runtime versions and internal addresses serve it, which tell an attacker more than they tell a client.
_TRAINING_DETAIL = "training_command"
_RUNTIME_DETAIL = ("runtime", "url")


def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _scored(request: Request, form: BodyForm) -> tuple[ScoredRequest, ScoreOptions]:
    """The request's images, parsed as ``form`` says, scored by the pipeline within the request time budget."""
    settings = _settings(request)
    images, options = await parse_score_request(request, settings, form)
    pipeline: Pipeline = request.app.state.pipeline
    try:
        async with asyncio.timeout(settings.request_timeout_s):
            return await pipeline.score(images, options), options
    except TimeoutError as exc:
        raise RequestTimeout(f"scoring took longer than {settings.request_timeout_s} s") from exc


@router.post(  # its request body is described in service.api.openapi
    "/score", response_model=ScoreResponse, responses=ERROR_RESPONSES, dependencies=PROTECTED
)
async def score(request: Request) -> ScoreResponse:
    """Score every face of one or more images (multipart files, base64 JSON, or a raw image body)."""
    scored, options = await _scored(request, score_form(_settings(request)))
    response = score_response(scored, request.state.request_id, options.return_maps)
    request.state.log_fields = logs.response_fields(response)
    return response


@router.post(  # its request body and examples are described in service.api.openapi
    "/select", response_model=SelectResponse, responses=ERROR_RESPONSES, dependencies=PROTECTED
)
async def select(request: Request) -> SelectResponse:
    """Best shot of a burst: the images are consecutive frames of one capture (same body forms as ``/score``);
    every frame is scored, and the best accepted one is chosen (one per person with ``options.track``)."""
    scored, options = await _scored(request, select_form(_settings(request)))
    assert isinstance(options, SelectOptions)
    response = select_response(
        scored, select_best(scored, options.track), request.state.request_id, options.return_maps
    )
    request.state.log_fields = {"frames": len(response.frames), "chosen": response.chosen and response.chosen.frame}
    return response


@router.get("/healthz")
@router.head("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """The process is alive and its event loop answers."""
    return {"status": "ok"}


@router.get("/readyz", responses={**INTERNAL, 503: {"model": ErrorBody}})
@router.head("/readyz", include_in_schema=False)
async def readyz(request: Request) -> dict[str, Any]:
    """Models are loaded and the inference backend answers."""
    pipeline: Pipeline | None = getattr(request.app.state, "pipeline", None)
    if pipeline is None or not await pipeline.backend.ready():
        raise BackendUnavailable("inference backend is not ready", code="not_ready")
    return {"status": "ready", "backend": pipeline.backend.name}


@router.get("/v1/models", responses={**ACCESS_RESPONSES, **INTERNAL}, dependencies=PROTECTED)
async def models(request: Request, detail: Literal["summary", "full"] = "summary") -> dict[str, Any]:
    """Every model card, what really runs each network, the decision defaults with their sources, and the component
    measures (raw scale, mapping, rejection reason), policy profiles and hints. Training
    command lines, runtime versions and backend addresses only with ``detail=full``."""
    settings = _settings(request)
    pipeline: Pipeline = request.app.state.pipeline
    full = detail == "full"
    cards = []
    for name, card in pipeline.registry.cards.items():
        entry = card.model_dump(exclude_none=True)
        if not full:
            entry.get("source", {}).pop(_TRAINING_DETAIL, None)
        if card.file:
            runtime = pipeline.backend.describe(name)
            entry["runtime"] = runtime if full else {k: v for k, v in runtime.items() if k not in _RUNTIME_DETAIL}
        if card.kind == "quality":
            entry["available"] = name in pipeline.methods
            if entry["available"] and not card.maps_only:
                value, source = pipeline.threshold_of(name)
                entry["decision_threshold"] = {"value": value, "source": source}
            entry["default"] = name == settings.default_models[0]
        cards.append(entry)
    return {
        "backend": pipeline.backend.name,
        "default_models": settings.default_models,
        "decision_defaults": {
            "min_face_size": settings.min_face_size,
            "single_face": settings.single_face,
            "max_out_of_frame": settings.max_out_of_frame,
            "max_faces": settings.max_faces,
            "profile": settings.profile,
            "measure_thresholds": profile_thresholds(settings.profile, settings.measure_thresholds),
        },
        "models": cards,
        "measures": [measure.describe() for measure in MEASURES.values()],
        "measures_not_provided": NOT_PROVIDED,
        "profiles": PROFILES,
        "hints": HINTS,
    }


@metrics_router.get("/metrics", include_in_schema=False, dependencies=[Depends(access.metrics_scraper)])
async def prometheus_metrics() -> Response:
    """The Prometheus exposition (behind its own bearer token where ``FIQA_METRICS_KEY_HASH`` is set)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
