"""One batch for one model as tritonclient objects, sent in the request body or through a shared-memory slot.

Both ways build their ``InferInput``s, requested outputs and answer here, so they differ only in where the
bytes travel: outputs whose non-batch dims the card fixes get a place in the slot after the inputs; outputs with
dynamic dims (the detector's maps) always come back in the reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from tritonclient.utils import np_to_triton_dtype

from service.backends.triton.shared_memory import ShmSlot
from service.errors import ModelMismatch
from service.registry import ModelCard


@dataclass(frozen=True)
class Placement:
    """Where a fixed-size output lands in a slot."""

    offset: int
    shape: tuple[int, ...]
    nbytes: int


class InferRequest:
    """The inputs of one call (C-contiguous, in order) and where each fixed-size output goes in a slot."""

    def __init__(self, module: Any, protocol: str, card: ModelCard, inputs: dict[str, np.ndarray]):
        self._module = module  # tritonclient.grpc.aio or tritonclient.http.aio
        self._binary = {} if protocol == "grpc" else {"binary_data": True}
        self._card = card
        self.arrays = {key: np.ascontiguousarray(value) for key, value in inputs.items()}
        rows = next(iter(self.arrays.values())).shape[0]
        offset = sum(array.nbytes for array in self.arrays.values())
        self._placements: dict[str, Placement] = {}
        for spec in card.outputs:
            tail = tuple(spec.shape[1:])
            if spec.shape and spec.shape[0] == -1 and all(dim > 0 for dim in tail):
                shape = (rows, *tail)
                nbytes = int(np.prod(shape)) * np.dtype(spec.dtype).itemsize
                self._placements[spec.name] = Placement(offset, shape, nbytes)
                offset += nbytes
        self.shm_bytes = offset  # inputs, then the placed outputs

    def inputs(self, slot: ShmSlot | None = None) -> list[Any]:
        """One ``InferInput`` per array: its data in the request, or its place in ``slot`` (written by the caller)."""
        tensors, position = [], 0
        for key, array in self.arrays.items():
            tensor = self._module.InferInput(key, list(array.shape), np_to_triton_dtype(array.dtype))
            if slot is None:
                tensor.set_data_from_numpy(array)
            else:
                tensor.set_shared_memory(slot.region, array.nbytes, position)
            position += array.nbytes
            tensors.append(tensor)
        return tensors

    def outputs(self, slot: ShmSlot | None = None) -> list[Any]:
        """Every card output, asked in binary; with ``slot``, the fixed-size ones into it."""
        requested = []
        for spec in self._card.outputs:
            output = self._module.InferRequestedOutput(spec.name, **self._binary)
            placement = self._placements.get(spec.name)
            if slot is not None and placement is not None:
                output.set_shared_memory(slot.region, placement.nbytes, placement.offset)
            requested.append(output)
        return requested

    def answer(self, result: Any, slot: ShmSlot | None = None) -> dict[str, np.ndarray]:
        """The outputs by card name, as writable arrays owned by the caller."""
        answer = {}
        for spec in self._card.outputs:
            placement = self._placements.get(spec.name)
            if slot is not None and placement is not None:
                answer[spec.name] = slot.read(spec.dtype, placement.shape, placement.offset)
                continue
            array = result.as_numpy(spec.name)
            if array is None:
                raise ModelMismatch(f"{self._card.name}: Triton's answer lacks output {spec.name}")
            answer[spec.name] = array if array.flags.writeable else array.copy()
        return answer
