"""One request's walk: decode -> detect -> align -> (batched) score -> decide -> response."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np

from service import metrics
from service.align import AlignedFace, align
from service.decision import NOT_ASSESSED, FaceFacts, Policy, decide_face, decide_image
from service.decode import DecodedImage, decode_image
from service.detect import Face
from service.errors import InvalidOptions, ServiceError
from service.quality.base import produces_maps
from service.quality.maps import render
from service.runtime import Runtime
from service.schemas import (
    Box,
    ErrorInfo,
    FaceResult,
    ImageResult,
    ModelRef,
    Quality,
    ScoreOptions,
    ScoreResponse,
)
from service.timing import Timings


@dataclass
class ImageInput:
    """One image of a request: its bytes, or the error met while reading them (e.g. bad base64)."""

    id: str
    data: bytes = b""
    error: ServiceError | None = None


@dataclass
class _Analysed:
    """An image after decode, detect and align."""

    image: DecodedImage
    faces: list[Face]
    detected: int
    aligned: list[AlignedFace]


class Pipeline:
    """Scores requests with a started ``Runtime``'s long-lived parts (backend, batchers, methods)."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.settings = runtime.settings
        self.registry = runtime.registry
        self.backend = runtime.backend
        self.methods = runtime.methods

    def threshold_of(self, model: str) -> tuple[float, str]:
        """The default accept threshold for ``model`` and where it came from."""
        if self.settings.threshold is not None:
            return self.settings.threshold, "FIQA_THRESHOLD setting"
        card_threshold = self.registry[model].threshold
        if card_threshold is None:
            raise ValueError(f"{model}: its card states no threshold and FIQA_THRESHOLD is unset")
        return card_threshold.value, card_threshold.source

    def policy(self, options: ScoreOptions, primary: str) -> Policy:
        s = self.settings
        return Policy(
            threshold=self.threshold_of(primary)[0] if options.threshold is None else options.threshold,
            min_face_size=s.min_face_size if options.min_face_size is None else options.min_face_size,
            single_face=s.single_face if options.single_face is None else options.single_face,
            max_out_of_frame=s.max_out_of_frame,
        )

    def resolve_models(self, options: ScoreOptions) -> list[str]:
        names = list(dict.fromkeys(options.models or self.settings.default_models))
        unknown = [name for name in names if name not in self.methods]
        if unknown:
            raise InvalidOptions(
                f"unknown quality model(s) {unknown}; available: {sorted(self.methods)}",
                details=[{"loc": ["options", "models"], "unknown": unknown}],
            )
        return names

    async def score(self, images: list[ImageInput], options: ScoreOptions, request_id: str) -> ScoreResponse:
        timings = Timings()
        models = self.resolve_models(options)
        policy = self.policy(options, models[0])
        max_faces = options.max_faces or self.settings.max_faces
        analysed = await asyncio.gather(*(self._analyse(image, timings, max_faces) for image in images))
        failures = [result for result in analysed if isinstance(result, ServiceError)]
        if failures and len(failures) == len(images):
            raise failures[0]

        crops = [face.crop for result in analysed if isinstance(result, _Analysed) for face in result.aligned]
        assessable = [
            face.assessable
            for result in analysed
            if isinstance(result, _Analysed)
            for face in result.aligned
        ]
        scored = [crop for crop, ok in zip(crops, assessable, strict=True) if ok]
        map_models = [name for name in models if produces_maps(self.methods[name])]
        want_maps = map_models if options.return_maps != "none" else []
        with timings.stage("quality"):
            raw, scores, maps = await self._quality(models, scored, timings, want_maps)

        with timings.stage("decide"):
            results = self._results(images, analysed, models, raw, scores, assessable, policy, maps, options)
        warnings = []
        if options.return_maps != "none" and not map_models:
            warnings.append("return_maps: none of the selected models produces quality maps; none returned")
        if want_maps and len(scored) > self.settings.max_map_faces:
            warnings.append(
                f"return_maps: maps returned for the first {self.settings.max_map_faces} scored faces only "
                f"of {len(scored)} (FIQA_MAX_MAP_FACES bounds the response size)"
            )
        timing_ms = timings.finish()
        for stage, value in timing_ms.items():
            metrics.STAGE_LATENCY.labels(stage=stage).observe(value / 1000.0)
        return ScoreResponse(
            request_id=request_id,
            images=results,
            timings_ms=timing_ms,
            models=[ModelRef(name=name, version=self.registry[name].version) for name in models],
            warnings=warnings,
        )

    async def _analyse(self, item: ImageInput, timings: Timings, max_faces: int) -> _Analysed | ServiceError:
        s = self.settings
        try:
            if item.error is not None:
                raise item.error
            with timings.stage("decode"):
                image = await asyncio.to_thread(
                    decode_image,
                    item.data,
                    max_bytes=s.max_body_bytes,
                    max_pixels=s.max_pixels,
                    min_side=s.min_image_side,
                    reduce_to=s.det_max_side if s.det_reduced_decode else None,
                    min_reduction=s.det_reduced_decode_min_scale,
                )
        except ServiceError as error:
            if error.status >= 500:
                raise
            metrics.IMAGES.labels(status="error").inc()
            return error
        with timings.stage("detect"):
            faces = await self.runtime.detect_faces(
                image.rgb if image.detect_rgb is None else image.detect_rgb,
                timings,
                upscale=image.detect_scale,
                frame_size=(image.width, image.height),
            )
        metrics.IMAGES.labels(status="ok").inc()
        metrics.FACES_PER_IMAGE.observe(len(faces))
        kept = sorted(faces, key=lambda face: face.area, reverse=True)[:max_faces]
        with timings.stage("align"):
            aligned = await asyncio.to_thread(lambda: [align(image.rgb, face.landmarks) for face in kept])
        return _Analysed(image=image, faces=kept, detected=len(faces), aligned=aligned)

    async def _quality(
        self, models: list[str], crops: list[np.ndarray], timings: Timings, want_maps: list[str]
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Raw and 0..100 scores per model for every crop (and maps of ``want_maps``); models run concurrently."""
        if not crops:
            return {}, {}, {}
        stack = np.stack(crops)
        maps: dict[str, np.ndarray] = {}

        async def run(name: str) -> tuple[str, np.ndarray]:
            method = self.methods[name]
            with timings.stage("quality_prepare"):
                inputs = await asyncio.to_thread(method.prepare, stack)
            outputs = {}
            for network, tensors in inputs.items():
                outputs[network], batch = await self.runtime.batchers[network].submit(tensors)
                timings.add("quality_queue", batch.queue_ms)
                timings.add("quality_infer", batch.infer_ms)
            if name in want_maps:
                maps[name] = method.maps(outputs, len(crops))  # type: ignore[attr-defined]
            return name, method.postprocess(outputs, len(crops))

        raw = dict(await asyncio.gather(*(run(name) for name in models)))
        return raw, {name: self.methods[name].to_score(values) for name, values in raw.items()}, maps

    def _results(
        self,
        images: list[ImageInput],
        analysed: list[_Analysed | ServiceError],
        models: list[str],
        raw: dict[str, np.ndarray],
        scores: dict[str, np.ndarray],
        assessable: list[bool],
        policy: Policy,
        maps: dict[str, np.ndarray],
        options: ScoreOptions,
    ) -> list[ImageResult]:
        primary = models[0]
        results: list[ImageResult] = []
        face_index = 0  # over all faces of the request, in order
        scored_index = 0  # over the faces that were scored
        for index, (item, result) in enumerate(zip(images, analysed, strict=True)):
            if isinstance(result, ServiceError):
                error = ErrorInfo(code=result.code, message=result.message)
                results.append(ImageResult(index=index, id=item.id, status="error", error=error))
                continue
            faces: list[FaceResult] = []
            for number, (face, crop) in enumerate(zip(result.faces, result.aligned, strict=True)):
                face_maps = {}
                if assessable[face_index]:
                    quality = Quality(
                        score=round(float(scores[primary][scored_index]), 3),
                        model=primary,
                        scores={name: round(float(scores[name][scored_index]), 3) for name in models},
                        raw={name: float(raw[name][scored_index]) for name in models},
                    )
                    if scored_index < self.settings.max_map_faces:
                        face_maps = {
                            name: render(values[scored_index], crop.crop, crop.transform, options.return_maps)
                            for name, values in maps.items()
                        }
                    scored_index += 1
                else:
                    quality = Quality(score=NOT_ASSESSED, model=primary)
                face_index += 1
                facts = FaceFacts(quality.score, face.inter_eye_distance, crop.out_of_frame)
                reasons = decide_face(facts, policy, result.detected)
                decision = "reject" if reasons else "accept"
                for reason in reasons or ["none"]:
                    metrics.DECISIONS.labels(decision=decision, reason=reason).inc()
                if quality.score != NOT_ASSESSED:
                    metrics.QUALITY_SCORE.labels(model=primary).observe(quality.score)
                faces.append(
                    FaceResult(
                        index=number,
                        box=Box(**dict(zip(("x1", "y1", "x2", "y2"), map(float, face.box), strict=True))),
                        landmarks=[[float(x), float(y)] for x, y in face.landmarks],
                        detection_score=face.score,
                        inter_eye_distance=face.inter_eye_distance,
                        out_of_frame=crop.out_of_frame,
                        quality=quality,
                        decision=decision,
                        reasons=reasons,
                        maps=face_maps,
                    )
                )
            image_reasons = decide_image([face.reasons for face in faces], result.detected, policy)
            for reason in image_reasons or ["none"]:
                metrics.IMAGE_DECISIONS.labels(decision="reject" if image_reasons else "accept", reason=reason).inc()
            results.append(
                ImageResult(
                    index=index,
                    id=item.id,
                    status="ok",
                    width=result.image.width,
                    height=result.image.height,
                    faces_detected=result.detected,
                    faces=faces,
                    decision="reject" if image_reasons else "accept",
                    reasons=image_reasons,
                )
            )
        return results
