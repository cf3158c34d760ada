"""What Triton serves, checked against the card: tensors (the shared contract), batch limit, card version."""

from __future__ import annotations

import logging

import pytest

from service.backends.triton.verify import ModelInfo, check_served
from service.errors import ModelMismatch
from service.registry import Registry


def _metadata(**changes) -> dict:
    metadata = {
        "name": "fr_feature",
        "platform": "onnxruntime_onnx",
        "versions": ["1"],
        "inputs": [{"name": "input", "datatype": "FP32", "shape": ["-1", "3", "112", "112"]}],
        "outputs": [{"name": "output", "datatype": "FP32", "shape": [-1, 512]}],
    }
    for key, value in changes.items():
        kind, field = key.split("__")
        metadata[kind][0][field] = value
    return metadata


def _config(max_batch_size: int = 64, card_version: str | None = "0.0.1-dynbatch") -> dict:
    config = {"backend": "onnxruntime", "max_batch_size": max_batch_size}
    if card_version is not None:
        config["parameters"] = {"card_version": {"string_value": card_version}}
    return config


def test_a_model_as_its_card_states_is_described(registry: Registry) -> None:
    assert registry["fr_feature"].version == "0.0.1-dynbatch"
    # gRPC JSON gives dims as strings (the input here), HTTP as ints (the output)
    info = check_served(registry["fr_feature"], _metadata(), _config(), batch_rows=64)
    assert info == ModelInfo(platform="onnxruntime_onnx", backend="onnxruntime", versions=["1"], max_batch_size=64)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"outputs__shape": [-1, 128]}, r"output output has shape \[-1, 128\] in the network"),
        ({"inputs__shape": [-1, 3, -1, -1]}, r"input input has shape \[-1, 3, -1, -1\] in the network"),
        ({"inputs__datatype": "FP16"}, "input input is float16 in the network, float32 in its card"),
        ({"inputs__datatype": "BF16"}, "input input is bfloat16 in the network"),
        ({"outputs__name": "embedding"}, r"the network's outputs are \['embedding'\], its card names \['output'\]"),
    ],
)
def test_tensors_differing_from_the_card_are_a_mismatch(registry: Registry, change: dict, message: str) -> None:
    with pytest.raises(ModelMismatch, match=message):
        check_served(registry["fr_feature"], _metadata(**change), _config(), batch_rows=64)


def test_a_batch_limit_below_the_gateway_batches_is_a_mismatch(registry: Registry) -> None:
    with pytest.raises(ModelMismatch, match="max_batch_size 32 is below the gateway's batches of 64"):
        check_served(registry["fr_feature"], _metadata(), _config(max_batch_size=32), batch_rows=64)
    assert check_served(registry["fr_feature"], _metadata(), _config(max_batch_size=0), 64).max_batch_size == 0


def test_another_card_version_is_a_mismatch(registry: Registry) -> None:
    with pytest.raises(ModelMismatch, match=r"serves card version '0\.0\.0', the gateway has '0\.0\.1-dynbatch'"):
        check_served(registry["fr_feature"], _metadata(), _config(card_version="0.0.0"), batch_rows=64)


def test_no_card_version_is_served_with_a_warning(registry: Registry, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="service.backends.triton.verify"):
        check_served(registry["fr_feature"], _metadata(), _config(card_version=None), batch_rows=64)
    assert "states no card_version" in caplog.text
