"""The embedded onnxruntime backend on the committed ONNX files: load, batches, refusals, close."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np
import pytest

from service.backends.onnxruntime import OnnxRuntimeBackend, intra_op_threads
from service.errors import BackendUnavailable, ModelMismatch
from service.registry import Registry
from service.settings import Settings

SETTINGS = Settings(cpu_workers=1, ort_intra_op_threads=1)
NETWORKS = ["fr_feature", "centerface", "diffiqa_r64"]


def _batch(registry: Registry, name: str, rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random inputs of the card's shapes (dynamic spatial dims as 96)."""
    batch = {}
    for spec in registry[name].inputs:
        dims = [rows, *(dim if dim > 0 else 96 for dim in spec.shape[1:])]
        batch[spec.name] = rng.uniform(-1, 1, dims).astype(spec.dtype)
    return batch


@pytest.fixture(scope="module")
def loaded(registry: Registry):
    backend = OnnxRuntimeBackend(registry, SETTINGS)
    asyncio.run(backend.load(NETWORKS))
    yield backend
    asyncio.run(backend.close())


def test_loaded_networks_are_ready_and_described(loaded: OnnxRuntimeBackend) -> None:
    assert asyncio.run(loaded.ready()) is True
    described = loaded.describe("fr_feature")
    assert described["loaded"] is True and described["providers"] == ["CPUExecutionProvider"]
    assert described["runtime"].startswith("onnxruntime ")
    assert loaded.describe("vitfiqa")["loaded"] is False


@pytest.mark.parametrize("name", NETWORKS)
def test_a_batch_gives_the_card_outputs_row_by_row(loaded: OnnxRuntimeBackend, registry: Registry, name: str) -> None:
    batch = _batch(registry, name, 3, np.random.default_rng(0))
    outputs = asyncio.run(loaded.infer(name, batch))
    assert list(outputs) == [spec.name for spec in registry[name].outputs]
    for spec in registry[name].outputs:
        assert outputs[spec.name].shape[0] == 3 and outputs[spec.name].dtype == np.dtype(spec.dtype)
        assert all(want in (-1, got) for want, got in zip(spec.shape, outputs[spec.name].shape, strict=True))
        assert np.isfinite(outputs[spec.name]).all()
    # Rows are independent: the middle row alone gives the middle row of the batch.
    alone = asyncio.run(loaded.infer(name, {key: value[1:2] for key, value in batch.items()}))
    for key, value in alone.items():
        np.testing.assert_allclose(value[0], outputs[key][1], rtol=1e-4, atol=1e-5)


def test_each_kind_of_network_gets_its_own_intra_op_threads(registry: Registry) -> None:
    split = Settings(ort_intra_op_threads=2, ort_quality_intra_op_threads=1, ort_measure_intra_op_threads=3)
    kinds = {name: registry[name].kind for name in ("centerface", "diffiqa_r64", "fr_feature", "facemesh")}
    assert {name: intra_op_threads(split, kind) for name, kind in kinds.items()} == {
        "centerface": 2,
        "diffiqa_r64": 1,
        "fr_feature": 1,
        "facemesh": 3,
    }
    backend = OnnxRuntimeBackend(registry, split)
    try:
        asyncio.run(backend.load(["centerface", "diffiqa_r64"]))
        sessions = {name: backend._sessions[name].get_session_options() for name in ("centerface", "diffiqa_r64")}
        assert {name: options.intra_op_num_threads for name, options in sessions.items()} == {
            "centerface": 2,
            "diffiqa_r64": 1,
        }
    finally:
        asyncio.run(backend.close())


def test_a_network_not_loaded_is_unavailable(loaded: OnnxRuntimeBackend, registry: Registry) -> None:
    with pytest.raises(BackendUnavailable, match="not loaded"):
        asyncio.run(loaded.infer("vitfiqa", _batch(registry, "vitfiqa", 1, np.random.default_rng(0))))


def _load(registry: Registry, name: str) -> OnnxRuntimeBackend:
    backend = OnnxRuntimeBackend(registry, SETTINGS)
    try:
        asyncio.run(backend.load([name]))
    finally:
        asyncio.run(backend.close())
    return backend


def test_a_card_that_differs_from_its_network_is_refused(edited_registry: Callable[..., Registry]) -> None:
    registry = edited_registry("fr_feature", lambda card: card["outputs"][0].update(shape=[-1, 128]))
    with pytest.raises(ModelMismatch, match=r"output output has shape \[-1, 512\] in the network, \[-1, 128\]"):
        _load(registry, "fr_feature")


def test_a_file_other_than_its_checksum_names_is_refused(edited_registry: Callable[..., Registry]) -> None:
    registry = edited_registry("diffiqa_r64", file_of="diffiqa_r")  # same tensors, other weights
    with pytest.raises(ModelMismatch, match="sha256"):
        _load(registry, "diffiqa_r64")


def test_a_missing_file_is_unavailable(edited_registry: Callable[..., Registry]) -> None:
    registry = edited_registry("fr_feature")
    registry.file_of("fr_feature").unlink()
    with pytest.raises(BackendUnavailable, match="make models"):
        _load(registry, "fr_feature")


def test_close_releases_the_sessions(registry: Registry) -> None:
    backend = OnnxRuntimeBackend(registry, SETTINGS)

    async def run() -> tuple[bool, bool]:
        await backend.load(["fr_feature"])
        before = await backend.ready()
        await backend.close()
        return before, await backend.ready()

    assert asyncio.run(run()) == (True, False)
    described = backend.describe("fr_feature")
    assert described["loaded"] is False and described["providers"] == []
