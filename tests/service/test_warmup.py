"""Warm-up: every network runs once at the largest input the gateway will give it, before readiness."""

from __future__ import annotations

import asyncio

import numpy as np

from service.backends.onnxruntime import OnnxRuntimeBackend
from service.detect import DETECTOR, letterbox
from service.measures import MEASURES
from service.registry import Registry
from service.settings import Settings
from service.warmup import largest_inputs, warm_up, warm_up_measures


def test_largest_inputs_cover_the_largest_letterbox_and_a_full_batch() -> None:
    settings = Settings(det_max_side=600, max_batch_size=24)
    registry = Registry(settings.models_dir)
    (frame,) = largest_inputs(registry, DETECTOR, settings).values()
    # no frame the letterbox produces is larger, in either dimension
    for shape in [(600, 600), (2000, 2000), (3000, 4000), (4000, 3000), (479, 601)]:
        blob = letterbox(np.zeros((*shape, 3), dtype=np.uint8), settings.det_max_side).blob
        assert blob.shape[2] <= frame.shape[2] and blob.shape[3] <= frame.shape[3]
    assert frame.shape[:2] == (1, 3) and frame.dtype == np.float32
    (rows,) = largest_inputs(registry, "fr_feature", settings).values()
    assert rows.shape == (24, 3, 112, 112)


def test_warm_up_runs_each_network_on_the_real_backend() -> None:
    settings = Settings(max_batch_size=8)
    registry = Registry(settings.models_dir)
    backend = OnnxRuntimeBackend(registry, settings)
    names = [DETECTOR, "fr_feature", "diffiqa_r"]
    backend.load_sync(names)
    try:
        seconds = asyncio.run(warm_up(backend, registry, names, settings))
    finally:
        asyncio.run(backend.close())
    assert list(seconds) == names
    assert all(value > 0 for value in seconds.values())


def test_the_gateway_warms_up_before_it_is_ready(make_client, caplog) -> None:
    with caplog.at_level("INFO", logger="service.warmup"), make_client(warmup=True, max_batch_size=8) as client:
        assert client.get("/readyz").status_code == 200
    assert any("warm-up at the largest input shapes" in record.getMessage() for record in caplog.records)


def test_measure_warm_up_assesses_every_measure_on_its_synthetic_face() -> None:
    results = warm_up_measures()
    assert list(results) == list(MEASURES)
    # the pixel measures see a whole face in frame; those that read a network find it not run, and say so
    assert results["NaturalColour"].assessed and results["Sharpness"].assessed
    assert not results["EyesOpen"].assessed and "facemesh" in str(results["EyesOpen"].reason)
