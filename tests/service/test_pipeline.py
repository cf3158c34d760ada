"""The pipeline driven directly from a started Runtime, without HTTP: images in, domain results out (no schema, no
rounding), and the response mapping the API applies to them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from service.api.responses import score_response
from service.decision import NOT_ASSESSED
from service.pipeline import ImageInput, Pipeline
from service.results import ScoredRequest
from service.runtime import Runtime
from service.schemas import ScoreOptions


def _score(images: list[ImageInput], options: ScoreOptions, **settings) -> tuple[ScoredRequest, str]:
    async def run() -> tuple[ScoredRequest, str]:
        async with Runtime.from_env(warmup=False, **settings) as runtime:
            return await Pipeline(runtime).score(images, options), runtime.settings.default_models[0]

    return asyncio.run(run())


def test_pipeline_scores_images_without_http(samples: Path) -> None:
    images = [
        ImageInput(id="obama", data=(samples / "obama.jpg").read_bytes()),
        ImageInput(id="broken", data=b"not an image"),
    ]
    scored, default = _score(images, ScoreOptions())
    assert list(scored.models) == [default]
    portrait, broken = scored.images
    assert portrait.error is None and portrait.detected == 1 and portrait.accepted
    (face,) = portrait.faces
    assert face.quality.model == default and 0.0 <= face.quality.score <= 100.0
    assert face.quality.scores[default] == face.quality.score and default in face.quality.raw
    assert face.aligned.crop.shape == (112, 112, 3) and face.accepted and face.maps == {}
    assert broken.error is not None and broken.error.code and broken.faces == [] and not broken.accepted
    assert {"decode", "detect", "align", "quality", "decide"} <= set(scored.timings_ms)

    response = score_response(scored, "direct-1", "none")
    assert response.request_id == "direct-1" and [m.name for m in response.models] == [default]
    ok, error = response.images
    assert ok.status == "ok" and ok.decision == "accept" and ok.faces[0].quality.score == round(face.quality.score, 3)
    assert error.status == "error" and error.error is not None and error.error.code == broken.error.code


def test_faces_keep_their_own_quality_across_images_and_unassessable_faces(samples: Path) -> None:
    """Three images, the middle one a failure: each face gets the quality of its own crop, in order."""
    names = ["obama.jpg", "biden.jpg"]
    images = [ImageInput(id=names[0], data=(samples / names[0]).read_bytes()), ImageInput(id="x", data=b"")]
    images.append(ImageInput(id=names[1], data=(samples / names[1]).read_bytes()))
    together, _ = _score(images, ScoreOptions(models=["diffiqa_r64", "ifqa"], return_maps="array"))
    first, failed, second = together.images
    assert failed.error is not None
    for image, name in ((first, names[0]), (second, names[1])):
        single = [ImageInput(id=name, data=(samples / name).read_bytes())]
        alone, _ = _score(single, ScoreOptions(models=["diffiqa_r64"]))
        assert image.faces[0].quality.raw["diffiqa_r64"] == pytest.approx(
            alone.images[0].faces[0].quality.raw["diffiqa_r64"], rel=1e-5
        )
        assert image.faces[0].maps["ifqa"].shape == (64, 64)
    assert all(face.quality.score != NOT_ASSESSED for face in first.faces + second.faces)
