"""The pipeline driven directly from a started Runtime, without HTTP: images in, per-image results out."""

from __future__ import annotations

import asyncio
from pathlib import Path

from service.pipeline import ImageInput, Pipeline
from service.runtime import Runtime
from service.schemas import ScoreOptions, ScoreResponse


def test_pipeline_scores_images_without_http(samples: Path) -> None:
    images = [
        ImageInput(id="obama", data=(samples / "obama.jpg").read_bytes()),
        ImageInput(id="broken", data=b"not an image"),
    ]

    async def score() -> tuple[ScoreResponse, str]:
        async with Runtime.from_env(warmup=False) as runtime:
            response = await Pipeline(runtime).score(images, ScoreOptions(), "direct-1")
            return response, runtime.settings.default_models[0]

    response, default = asyncio.run(score())
    assert response.request_id == "direct-1" and [m.name for m in response.models] == [default]
    portrait, broken = response.images
    assert portrait.status == "ok" and portrait.faces_detected == 1 and portrait.decision == "accept"
    (face,) = portrait.faces
    assert face.quality.model == default and 0.0 <= face.quality.score <= 100.0 and default in face.quality.raw
    assert broken.status == "error" and broken.error is not None and broken.faces == []
    assert {"decode", "detect", "align", "quality", "decide"} <= set(response.timings_ms)
