"""The card contract every backend checks at load: the network's tensors are exactly the ones its card names.

Each backend only translates what its runtime reports into ``ServedTensor``s; the comparison and its error text
live here once, so the same drift gives the same ``ModelMismatch`` whichever backend serves the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.errors import ModelMismatch
from service.registry import ModelCard, TensorSpec


@dataclass(frozen=True)
class ServedTensor:
    """A tensor as a runtime serves it, in card spelling: numpy dtype name, -1 for every dynamic axis."""

    name: str
    dtype: str
    shape: tuple[int, ...]


def check_contract(card: ModelCard, inputs: Sequence[ServedTensor], outputs: Sequence[ServedTensor]) -> None:
    """Raise ``ModelMismatch`` unless names, dtypes and shapes equal the card's exactly (-1 = dynamic axis).

    Exact, not "compatible": a network with extra tensors, a fixed axis the card calls dynamic, or a dynamic
    axis the card calls fixed is not the network the card (and every batch the gateway builds from it) describes.
    """
    _compare(card.name, "input", card.inputs, inputs)
    _compare(card.name, "output", card.outputs, outputs)


def _compare(model: str, kind: str, specs: list[TensorSpec], served: Sequence[ServedTensor]) -> None:
    by_name = {tensor.name: tensor for tensor in served}
    wanted = sorted(spec.name for spec in specs)
    if wanted != sorted(by_name):
        raise ModelMismatch(f"{model}: the network's {kind}s are {sorted(by_name)}, its card names {wanted}")
    for spec in specs:
        tensor = by_name[spec.name]
        if tensor.dtype != spec.dtype:
            raise ModelMismatch(
                f"{model}: {kind} {spec.name} is {tensor.dtype} in the network, {spec.dtype} in its card"
            )
        if list(tensor.shape) != list(spec.shape):
            raise ModelMismatch(
                f"{model}: {kind} {spec.name} has shape {list(tensor.shape)} in the network, {spec.shape} in its card"
            )
