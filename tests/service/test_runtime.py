"""The composition root: settings with overrides, the blocking entry points batch work uses, and start()'s rule
for models that cannot be loaded (an optional one is left out, the default one keeps the runtime down)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from service.align import align
from service.decode import decode_image
from service.errors import BackendUnavailable
from service.runtime import Runtime
from service.settings import REPO_ROOT

OPTIONAL = "vitfiqa"  # a quality model with a network of its own, not a default one


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    blocking = Runtime.from_env(ort_intra_op_threads=1, cpu_workers=1)
    yield blocking
    blocking.shutdown()


def _rgb(path: Path) -> np.ndarray:
    return decode_image(path.read_bytes(), max_bytes=1 << 26, max_pixels=1 << 26, min_side=16).rgb


def test_from_env_reads_the_environment_and_overrides_win(monkeypatch) -> None:
    monkeypatch.setenv("FIQA_DET_THRESHOLD", "0.6")
    monkeypatch.setenv("FIQA_MAX_BATCH_SIZE", "9")
    built = Runtime.from_env(max_batch_size=7, warmup=False)
    assert built.settings.det_threshold == 0.6 and built.settings.max_batch_size == 7
    assert not built.settings.warmup
    assert set(built.methods) == set(built.registry.quality_methods())


def test_blocking_detect_finds_the_one_face(runtime: Runtime, samples: Path) -> None:
    (face,) = runtime.detect(_rgb(samples / "obama.jpg"))
    assert face.score > runtime.settings.det_threshold and face.inter_eye_distance > 20


def test_score_crops_gives_the_raw_score_the_api_returns(runtime: Runtime, client, samples: Path) -> None:
    jpeg = (samples / "obama.jpg").read_bytes()
    response = client.post("/score", content=jpeg, headers={"content-type": "image/jpeg"})
    assert response.status_code == 200
    (served,) = response.json()["images"][0]["faces"]
    default = runtime.settings.default_models[0]
    rgb = _rgb(samples / "obama.jpg")
    (face,) = runtime.detect(rgb)
    np.testing.assert_allclose(face.landmarks, served["landmarks"], atol=1e-3)
    raw = runtime.score_crops(default, align(rgb, face.landmarks).crop[None])
    assert raw.shape == (1,)
    assert raw[0] == pytest.approx(served["quality"]["raw"][default], rel=1e-5)


def _models_without(tmp_path: Path, name: str) -> Path:
    """Every card and network file of the repository (files linked), except ``name``'s network file."""
    models = tmp_path / "models"
    for card in (REPO_ROOT / "models").glob("*/card.yaml"):
        folder = models / card.parent.name
        folder.mkdir(parents=True)
        (folder / "card.yaml").write_bytes(card.read_bytes())
        if card.parent.name != name:
            for onnx in card.parent.glob("*.onnx"):
                (folder / onnx.name).symlink_to(onnx)
    return models


def test_start_leaves_out_an_optional_model_whose_file_is_missing(tmp_path: Path) -> None:
    models = _models_without(tmp_path, OPTIONAL)
    serving = Runtime.from_env(models_dir=models, warmup=False)
    assert serving.missing_files(OPTIONAL) == [str(models / OPTIONAL / "model.onnx")]

    async def started() -> tuple[set[str], set[str]]:
        async with serving:
            return set(serving.methods), set(serving.batchers)

    methods, batchers = asyncio.run(started())
    default = serving.settings.default_models[0]
    assert OPTIONAL not in methods and default in methods
    assert OPTIONAL not in batchers and set(serving.registry[default].networks) <= batchers
    assert serving.batchers == {}  # closed on leaving


def test_start_raises_when_the_default_models_file_is_missing(tmp_path: Path) -> None:
    serving = Runtime.from_env(models_dir=_models_without(tmp_path, OPTIONAL), default_models=[OPTIONAL])

    async def start() -> None:
        async with serving:
            pass

    with pytest.raises(BackendUnavailable, match="missing"):
        asyncio.run(start())
