"""The card contract both backends check at load: exact names, dtypes and shapes (-1 = dynamic axis)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from service.backends.contract import ServedTensor, check_contract
from service.backends.onnxruntime import OnnxRuntimeBackend
from service.backends.triton.verify import check_served
from service.errors import ModelMismatch
from service.registry import ModelCard, Registry
from service.settings import Settings

FR_INPUT = ServedTensor("input", "float32", (-1, 3, 112, 112))
FR_OUTPUT = ServedTensor("output", "float32", (-1, 512))

# fr_feature as Triton 2.51 describes it (gRPC JSON: dims as strings) with the config the repository builder writes
TRITON_METADATA = {
    "name": "fr_feature",
    "platform": "onnxruntime_onnx",
    "versions": ["1"],
    "inputs": [{"name": "input", "datatype": "FP32", "shape": ["-1", "3", "112", "112"]}],
    "outputs": [{"name": "output", "datatype": "FP32", "shape": ["-1", "512"]}],
}


def _triton_config(card: ModelCard) -> dict:
    return {"max_batch_size": 64, "parameters": {"card_version": {"string_value": card.version}}}


def test_tensors_as_the_card_states_pass(registry: Registry) -> None:
    check_contract(registry["fr_feature"], [FR_INPUT], [FR_OUTPUT])


@pytest.mark.parametrize(
    ("inputs", "outputs", "message"),
    [
        ([FR_INPUT, ServedTensor("mask", "float32", (-1, 1))], [FR_OUTPUT], r"inputs are \['input', 'mask'\]"),
        ([FR_INPUT], [], r"outputs are \[\], its card names \['output'\]"),
        ([FR_INPUT], [ServedTensor("embedding", "float32", (-1, 512))], r"outputs are \['embedding'\]"),
        ([ServedTensor("input", "float16", (-1, 3, 112, 112))], [FR_OUTPUT], "float16 in the network, float32"),
        ([FR_INPUT], [ServedTensor("output", "float32", (-1, 128))], r"shape \[-1, 128\] in the network"),
        ([ServedTensor("input", "float32", (-1, 3, -1, -1))], [FR_OUTPUT], r"shape \[-1, 3, -1, -1\]"),
        ([ServedTensor("input", "float32", (1, 3, 112, 112))], [FR_OUTPUT], r"shape \[1, 3, 112, 112\]"),
        ([ServedTensor("input", "float32", (-1, 3, 112))], [FR_OUTPUT], r"shape \[-1, 3, 112\]"),
    ],
    ids=[
        "extra-input",
        "missing-output",
        "renamed-output",
        "dtype",
        "fixed-dim",
        "dynamic-for-fixed",
        "fixed-for-dynamic",
        "rank",
    ],
)
def test_any_difference_is_a_mismatch(
    registry: Registry, inputs: list[ServedTensor], outputs: list[ServedTensor], message: str
) -> None:
    with pytest.raises(ModelMismatch, match=message):
        check_contract(registry["fr_feature"], inputs, outputs)


@pytest.mark.parametrize(
    "edit",
    [
        lambda card: card["outputs"][0].update(shape=[-1, 256]),
        lambda card: card["outputs"][0].update(name="embedding"),
        lambda card: card["inputs"][0].update(dtype="float16"),
        lambda card: card["inputs"][0].update(shape=[-1, 3, -1, -1]),
        lambda card: card["outputs"].append({"name": "norm", "shape": [-1, 1]}),
    ],
    ids=["output-shape", "output-name", "input-dtype", "input-dims", "extra-card-output"],
)
def test_both_backends_report_a_drifted_card_with_the_same_text(
    edited_registry: Callable[..., Registry], edit: Callable[[dict], None]
) -> None:
    registry = edited_registry("fr_feature", edit)
    card = registry["fr_feature"]
    with pytest.raises(ModelMismatch) as triton:
        check_served(card, TRITON_METADATA, _triton_config(card), batch_rows=64)
    backend = OnnxRuntimeBackend(registry, Settings(cpu_workers=1, ort_intra_op_threads=1))
    try:
        with pytest.raises(ModelMismatch) as embedded:
            asyncio.run(backend.load(["fr_feature"]))
    finally:
        asyncio.run(backend.close())
    assert str(embedded.value) == str(triton.value)
    assert str(triton.value).startswith("fr_feature: ")
