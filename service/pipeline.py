"""One request's walk: decode -> detect -> align -> (batched) score -> decide, returning domain results
(``service.results``); the HTTP layer alone turns them into response schemas."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from service import metrics
from service.align import AlignedFace, align
from service.budget import PixelBudget
from service.decision import FaceFacts, Policy, decide_face, decide_image, hints, profile_thresholds
from service.decode import DecodedImage, header_pixels
from service.decode_scale import DecodePolicy
from service.detect import Face
from service.errors import InvalidOptions, ServiceError, TooLarge
from service.measures import MEASURES, FaceView, MeasureResult, assess_faces, networks_for
from service.measures.networks import run_networks
from service.memory import trim_after
from service.quality.base import produces_maps
from service.results import FaceQuality, ScoredFace, ScoredImage, ScoredRequest
from service.runtime import Runtime
from service.schemas import ScoreOptions
from service.timing import Timings


@dataclass
class ImageInput:
    """One image of a request: its bytes, or the error met while reading them (e.g. bad base64)."""

    id: str
    data: bytes = b""
    error: ServiceError | None = None


@dataclass
class _Analysed:
    """An image after decode, detect, align and measure: its size, faces, crops and each face's component measures
    (the decoded frame itself is not kept)."""

    width: int
    height: int
    faces: list[Face]
    detected: int
    aligned: list[AlignedFace]
    measures: list[dict[str, MeasureResult]]


@dataclass
class _Quality:
    """The quality stage's output over the request's assessable faces, in order: raw and 0..100 values per model,
    and maps per map model for the first faces (as many as the response may carry)."""

    raw: dict[str, np.ndarray]
    scores: dict[str, np.ndarray]
    maps: dict[str, np.ndarray]

    def per_face(self, primary: str, assessable: list[bool]) -> Iterator[tuple[FaceQuality, dict[str, np.ndarray]]]:
        """(quality, maps) of every face of the request in order; a face that is not assessable gets neither."""
        scored = 0
        for ok in assessable:
            if not ok:
                yield FaceQuality(model=primary), {}
                continue
            quality = FaceQuality(
                model=primary,
                score=float(self.scores[primary][scored]),
                scores={name: float(values[scored]) for name, values in self.scores.items()},
                raw={name: float(values[scored]) for name, values in self.raw.items()},
            )
            yield quality, {name: values[scored] for name, values in self.maps.items() if scored < len(values)}
            scored += 1


class Pipeline:
    """Scores requests with a started ``Runtime``'s long-lived parts (backend, batchers, methods)."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.settings = runtime.settings
        self.registry = runtime.registry
        self.backend = runtime.backend
        self.methods = runtime.methods
        s = self.settings
        self._decoded = PixelBudget(s.max_decoded_pixels, s.max_waiting_decodes, s.retry_after_s)
        self._decoding = DecodePolicy.from_settings(s)
        _check_measure_names(self.settings.measure_thresholds, ("settings", "measure_thresholds"))

    def threshold_of(self, model: str) -> tuple[float, str]:
        """The default accept threshold for ``model`` and where it came from."""
        if self.settings.threshold is not None:
            return self.settings.threshold, "the threshold setting (overrides every card)"
        card_threshold = self.registry[model].threshold
        if card_threshold is None:
            raise ValueError(f"{model}: its card states no threshold and no threshold setting is given")
        return card_threshold.value, card_threshold.source

    def policy(self, options: ScoreOptions, primary: str) -> Policy:
        s = self.settings
        requested = options.measure_thresholds or {}
        _check_measure_names(requested, ("options", "measure_thresholds"))
        return Policy(
            threshold=self.threshold_of(primary)[0] if options.threshold is None else options.threshold,
            min_face_size=s.min_face_size if options.min_face_size is None else options.min_face_size,
            single_face=s.single_face if options.single_face is None else options.single_face,
            max_out_of_frame=s.max_out_of_frame,
            measures=profile_thresholds(options.profile or s.profile, s.measure_thresholds, requested),
        )

    @staticmethod
    def returned_measures(options: ScoreOptions, policy: Policy) -> list[str]:
        """The measures the response carries per face: none, those the policy checks, all, or the named ones."""
        if options.measures == "none":
            return []
        if options.measures == "default":
            return list(policy.measures)
        if options.measures == "all":
            return list(MEASURES)
        names = list(dict.fromkeys(options.measures))
        _check_measure_names(dict.fromkeys(names), ("options", "measures"))
        return names

    def resolve_models(self, options: ScoreOptions) -> list[str]:
        names = list(dict.fromkeys(options.models or self.settings.default_models))
        unknown = [name for name in names if name not in self.methods]
        if unknown:
            raise InvalidOptions(
                f"unknown quality model(s) {unknown}; available: {sorted(self.methods)}",
                details=[{"loc": ["options", "models"], "unknown": unknown}],
            )
        if self.registry[names[0]].maps_only:
            raise InvalidOptions(
                f"{names[0]} gives per-pixel maps only (its image score does not rank faces; see its card): "
                "put a scoring model first in options.models",
                details=[{"loc": ["options", "models", 0], "maps_only": names[0]}],
            )
        return names

    async def score(self, images: list[ImageInput], options: ScoreOptions) -> ScoredRequest:
        """Every image's faces scored and decided; one image's failure is that image's error, unless all fail."""
        timings = Timings()
        models = self.resolve_models(options)
        sizes = self._check_pixels(images)
        policy = self.policy(options, models[0])
        returned = self.returned_measures(options, policy)
        measured = list(dict.fromkeys([*returned, *policy.measures]))
        max_faces = options.max_faces or self.settings.max_faces
        analysed = await asyncio.gather(
            *(
                self._analyse(image, pixels, timings, max_faces, measured)
                for image, pixels in zip(images, sizes, strict=True)
            )
        )
        trim_after(sum(sizes))  # the frames are gone: give their memory back
        if all(isinstance(result, ServiceError) for result in analysed):
            raise next(result for result in analysed if isinstance(result, ServiceError))

        faces = [face for result in analysed if isinstance(result, _Analysed) for face in result.aligned]
        assessable = [face.assessable for face in faces]
        scored = [face.crop for face in faces if face.assessable]
        self._check_fits(models, len(scored))
        map_models = [name for name in models if produces_maps(self.methods[name])]
        want_maps = map_models if options.return_maps != "none" else []
        with timings.stage("quality"):
            quality = await self._quality(models, scored, timings, want_maps)

        with timings.stage("decide"):
            per_face = quality.per_face(models[0], assessable)
            results = [
                self._image(index, item, result, per_face, policy, returned)
                for index, (item, result) in enumerate(zip(images, analysed, strict=True))
            ]
        warnings = []
        if options.return_maps != "none" and not map_models:
            warnings.append("return_maps: none of the selected models produces quality maps; none returned")
        if want_maps and len(scored) > self.settings.max_map_faces:
            warnings.append(
                f"return_maps: maps returned for the first {self.settings.max_map_faces} scored faces only "
                f"of {len(scored)} (the max_map_faces setting bounds the response size)"
            )
        timing_ms = timings.finish()
        for stage, value in timing_ms.items():
            metrics.STAGE_LATENCY.labels(stage=stage).observe(value / 1000.0)
        versions = {name: self.registry[name].version for name in models}
        return ScoredRequest(images=results, models=versions, timings_ms=timing_ms, warnings=warnings)

    def _check_pixels(self, images: list[ImageInput]) -> list[int]:
        """Each image's pixels from its header (0 when unreadable, or over the per-image limit: such an image gets
        its own error); refuse (413) a request whose images hold more than ``max_request_pixels`` together, before
        any decode."""
        s = self.settings
        sizes = [0 if item.error else header_pixels(item.data) for item in images]
        sizes = [pixels if pixels <= s.max_pixels else 0 for pixels in sizes]
        total = sum(sizes)
        if total > s.max_request_pixels:
            raise TooLarge(
                f"the request's images hold {total} pixels together, limit is {s.max_request_pixels}: "
                "send fewer or smaller images per request",
                code="request_too_many_pixels",
            )
        return sizes

    def _check_fits(self, models: list[str], faces: int) -> None:
        """Refuse (413), before any inference, a request whose faces need more rows of a network than its whole
        queue holds: it could never be served, and retrying it after a 503 would not help."""
        rows: Counter[str] = Counter()
        for name in models:
            for network, rows_per_face in self.methods[name].rows_per_face().items():
                rows[network] += rows_per_face * faces
        limit = self.settings.max_queue_rows
        for network, needed in rows.items():
            if needed > limit:
                raise TooLarge(
                    f"{faces} faces with models {models} need {needed} rows of {network}, more than its queue holds "
                    f"({limit}): send fewer images or faces (options.max_faces), or a single-pass model",
                    code="request_too_large",
                )

    async def _analyse(
        self, item: ImageInput, pixels: int, timings: Timings, max_faces: int, measures: list[str]
    ) -> _Analysed | ServiceError:
        """Decode, detect, align and measure one image while holding its ``pixels`` of the process's decode budget;
        its error (a 4xx) is returned, not raised."""
        if item.error is not None:
            metrics.IMAGES.labels(status="error").inc()
            return item.error
        with timings.stage("decode_wait"):
            held = await self._decoded.acquire(pixels)
        try:
            return await self._analyse_held(item, timings, max_faces, measures)
        finally:
            await self._decoded.release(held)

    async def _analyse_held(
        self, item: ImageInput, timings: Timings, max_faces: int, measures: list[str]
    ) -> _Analysed | ServiceError:
        image = await self._decode(timings, self._decoding.decode, item.data)
        if isinstance(image, ServiceError):
            return image
        with timings.stage("detect"):
            detector_rgb, detector_scale = image.for_detector()
            faces = await self.runtime.detect_faces(
                detector_rgb, timings, upscale=detector_scale, frame_size=(image.width, image.height)
            )
        kept = sorted(faces, key=lambda face: face.area, reverse=True)[:max_faces]
        networks = sorted(networks_for(measures) & set(self.runtime.batchers)) if kept else []
        finer = self._decoding.finer_scale(image, kept, [self.registry[network].preprocess for network in networks])
        if finer is not None:  # a face too small in the reduced frame for the crops cut from it
            image = await self._decode(timings, self._decoding.decode_at, item.data, finer)
            if isinstance(image, ServiceError):
                return image
        metrics.IMAGES.labels(status="ok").inc()
        metrics.FACES_PER_IMAGE.observe(len(faces))
        with timings.stage("align"):
            aligned = await asyncio.to_thread(lambda: [align(image.rgb, f.landmarks, scale=image.scale) for f in kept])
        # Measured while the frame is still held (decode budget), so measures that read the frame can join them.
        size = (image.width, image.height)
        views = [FaceView.of(face, crop, size, faces) for face, crop in zip(kept, aligned, strict=True)]

        async def timed_networks() -> list[dict[str, dict[str, np.ndarray]]]:
            with timings.stage("measure_networks"):
                return await self._measure_networks(networks, image, kept, aligned)

        # the whole measuring: the networks (their own stage), then the measures
        with timings.stage("measures"):
            measured = await assess_faces(measures, views, timed_networks()) if measures else []
        return _Analysed(
            width=image.width,
            height=image.height,
            faces=kept,
            detected=len(faces),
            aligned=aligned,
            measures=measured or [{} for _ in kept],
        )

    @staticmethod
    async def _decode(timings: Timings, decode: Callable[..., DecodedImage], *args: Any) -> DecodedImage | ServiceError:
        """One decode in a worker thread, timed; the image's own error (a 4xx) is returned, not raised."""
        try:
            with timings.stage("decode"):
                return await asyncio.to_thread(decode, *args)
        except ServiceError as error:
            if error.status >= 500:
                raise
            metrics.IMAGES.labels(status="error").inc()
            return error

    async def _measure_networks(
        self, networks: list[str], image: DecodedImage, faces: list[Face], aligned: list[AlignedFace]
    ) -> list[dict[str, dict[str, np.ndarray]]]:
        """Per face, the outputs (by role) of each network the requested measures read, run on the crops its card
        asks for and batched across requests like the quality networks; the networks run side by side."""

        async def infer(network: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            outputs, _ = await self.runtime.batchers[network].submit(inputs)
            return outputs

        return await run_networks(self.registry.cards, networks, image.rgb, faces, infer, aligned, image.scale)

    async def _quality(
        self, models: list[str], crops: list[np.ndarray], timings: Timings, want_maps: list[str]
    ) -> _Quality:
        """Raw and 0..100 scores per model for every crop (and maps of ``want_maps`` for the first faces the
        response may carry); models run concurrently."""
        if not crops:
            return _Quality({}, {}, {})
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
                maps[name] = method.maps(outputs, len(crops))[: self.settings.max_map_faces]  # type: ignore[attr-defined]
            return name, method.postprocess(outputs, len(crops))

        raw = dict(await asyncio.gather(*(run(name) for name in models)))
        # a maps-only model gives its raw value and maps, no 0..100 score
        scores = {n: self.methods[n].to_score(v) for n, v in raw.items() if not self.registry[n].maps_only}
        return _Quality(raw, scores, maps)

    def _image(
        self,
        index: int,
        item: ImageInput,
        result: _Analysed | ServiceError,
        per_face: Iterator[tuple[FaceQuality, dict[str, np.ndarray]]],
        policy: Policy,
        returned: list[str],
    ) -> ScoredImage:
        """One image's result: its faces decided in turn (consuming their quality from ``per_face``), then the
        image-level decision."""
        if isinstance(result, ServiceError):
            return ScoredImage(index=index, id=item.id, error=result)
        faces = []
        for number, (face, crop, measures) in enumerate(
            zip(result.faces, result.aligned, result.measures, strict=True)
        ):
            quality, maps = next(per_face)
            facts = FaceFacts(quality.score, face.inter_eye_distance, crop.out_of_frame, measures)
            reasons = decide_face(facts, policy, result.detected)
            shown = {name: measures[name] for name in returned}
            faces.append(self._face(number, face, crop, quality, maps, reasons, shown))
        reasons = decide_image([face.reasons for face in faces], result.detected, policy)
        for reason in reasons or ["none"]:
            metrics.IMAGE_DECISIONS.labels(decision="reject" if reasons else "accept", reason=reason).inc()
        return ScoredImage(
            index=index,
            id=item.id,
            width=result.width,
            height=result.height,
            detected=result.detected,
            faces=faces,
            reasons=reasons,
            hints=hints(reasons),
        )

    @staticmethod
    def _face(
        number: int,
        face: Face,
        crop: AlignedFace,
        quality: FaceQuality,
        maps: dict[str, np.ndarray],
        reasons: list[str],
        measures: dict[str, MeasureResult],
    ) -> ScoredFace:
        """One decided face, counted in the decision (every reason) and score metrics."""
        decision = "reject" if reasons else "accept"
        for reason in reasons or ["none"]:
            metrics.DECISIONS.labels(decision=decision, reason=reason).inc()
        if quality.scores:
            metrics.QUALITY_SCORE.labels(model=quality.model).observe(quality.score)
        return ScoredFace(
            index=number,
            face=face,
            aligned=crop,
            quality=quality,
            reasons=reasons,
            hints=hints(reasons),
            measures=measures,
            maps=maps,
        )


def _check_measure_names(names: Mapping[str, object], where: tuple[str, ...]) -> None:
    """Refuse (422) measure names that are not served; the message lists those that are."""
    unknown = [name for name in names if name not in MEASURES]
    if unknown:
        raise InvalidOptions(
            f"unknown measure(s) {unknown}; available: {sorted(MEASURES)}",
            details=[{"loc": list(where), "unknown": unknown}],
        )
