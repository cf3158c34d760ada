"""One batch as tritonclient objects: data in the request, or places in a shared-memory slot; the answer read back."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import tritonclient.grpc.aio as grpc_client
import tritonclient.http.aio as http_client
from tritonclient.utils import shared_memory as shm

from service.backends.triton.request import InferRequest
from service.backends.triton.shared_memory import ShmSlot
from service.errors import ModelMismatch
from service.registry import ModelCard, TensorSpec

CARD = ModelCard(
    name="two_in_two_out",
    version="1",
    kind="quality",
    inputs=[TensorSpec(name="pixels", shape=[-1, 4]), TensorSpec(name="ids", dtype="int64", shape=[-1])],
    outputs=[TensorSpec(name="fixed", shape=[-1, 3]), TensorSpec(name="maps", shape=[-1, -1])],
)
ROWS = 2


class Result:
    """Stands in for tritonclient's InferResult: outputs by name, read-only like arrays over a reply buffer."""

    def __init__(self, **arrays: np.ndarray) -> None:
        for array in arrays.values():
            array.flags.writeable = False
        self._arrays = arrays

    def as_numpy(self, name: str) -> np.ndarray | None:
        return self._arrays.get(name)


def _place(parameters: dict) -> tuple[str, int, int]:
    """Region, size and offset of a tensor in shared memory (tritonclient leaves out an offset of 0)."""
    return (
        parameters["shared_memory_region"],
        parameters["shared_memory_byte_size"],
        parameters.get("shared_memory_offset", 0),
    )


@pytest.fixture
def inputs() -> dict[str, np.ndarray]:
    pixels = np.arange(ROWS * 4, dtype=np.float32).reshape(4, ROWS).T  # a transposed, non-contiguous view
    return {"pixels": pixels, "ids": np.array([7, 9], np.int64)}


@pytest.fixture
def slot() -> Iterator[ShmSlot]:
    slot = ShmSlot("request_test", 0)
    slot.size = 4096
    slot.handle = shm.create_shared_memory_region(slot.region, slot.key, slot.size)
    yield slot
    shm.destroy_shared_memory_region(slot.handle)


def test_inputs_travel_in_the_request_as_contiguous_arrays(inputs: dict[str, np.ndarray]) -> None:
    request = InferRequest(http_client, "http", CARD, inputs)
    tensors = request.inputs()
    assert [tensor.name() for tensor in tensors] == ["pixels", "ids"]
    assert [tensor.datatype() for tensor in tensors] == ["FP32", "INT64"]
    assert tensors[0].shape() == [ROWS, 4] and tensors[0]._get_binary_data() == inputs["pixels"].tobytes()
    requested = [output._get_tensor() for output in request.outputs()]
    assert requested == [
        {"name": "fixed", "parameters": {"binary_data": True}},
        {"name": "maps", "parameters": {"binary_data": True}},
    ]


def test_grpc_outputs_are_asked_without_the_http_binary_flag(inputs: dict[str, np.ndarray]) -> None:
    request = InferRequest(grpc_client, "grpc", CARD, inputs)
    assert [output._get_tensor().parameters.keys() for output in request.outputs()] == [set(), set()]
    assert request.inputs()[1]._get_content() == inputs["ids"].tobytes()


def test_with_a_slot_inputs_then_fixed_size_outputs_are_placed(inputs: dict[str, np.ndarray], slot: ShmSlot) -> None:
    request = InferRequest(http_client, "http", CARD, inputs)
    pixel_bytes, id_bytes, fixed_bytes = ROWS * 4 * 4, ROWS * 8, ROWS * 3 * 4
    assert request.shm_bytes == pixel_bytes + id_bytes + fixed_bytes  # the dynamic maps come in the reply
    placed = [_place(tensor._get_tensor()["parameters"]) for tensor in request.inputs(slot)]
    assert placed == [(slot.region, pixel_bytes, 0), (slot.region, id_bytes, pixel_bytes)]
    fixed, maps = (output._get_tensor()["parameters"] for output in request.outputs(slot))
    assert _place(fixed) == (slot.region, fixed_bytes, pixel_bytes + id_bytes) and fixed["binary_data"] is False
    assert maps == {"binary_data": True}


def test_the_answer_reads_placed_outputs_from_the_slot_and_the_rest_from_the_reply(
    inputs: dict[str, np.ndarray], slot: ShmSlot
) -> None:
    request = InferRequest(http_client, "http", CARD, inputs)
    slot.write(list(request.arrays.values()))
    fixed = np.arange(ROWS * 3, dtype=np.float32).reshape(ROWS, 3)
    shm.set_shared_memory_region(slot.handle, [fixed], offset=request.shm_bytes - fixed.nbytes)  # as Triton would
    maps = np.ones((ROWS, 5), np.float32)
    answer = request.answer(Result(maps=maps), slot)
    np.testing.assert_array_equal(answer["fixed"], fixed)
    np.testing.assert_array_equal(answer["maps"], maps)
    assert all(array.flags.writeable for array in answer.values())
    assert slot.read("float32", (ROWS, 4), 0).tolist() == inputs["pixels"].tolist()  # row-major, as declared


def test_an_answer_without_a_card_output_is_a_mismatch(inputs: dict[str, np.ndarray]) -> None:
    request = InferRequest(http_client, "http", CARD, inputs)
    with pytest.raises(ModelMismatch, match="Triton's answer lacks output maps"):
        request.answer(Result(fixed=np.zeros((ROWS, 3), np.float32)))
