"""What Triton serves under a card's name, checked against the card before the gateway uses it.

The tensors go through the card contract shared with the embedded backend (``service.backends.contract``); the
config adds Triton's own checks: its batch limit fits the gateway's batches, and it was built from this card
version. A repository that drifted from the cards stops the gateway at start-up instead of giving wrong scores.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from tritonclient.utils import triton_to_np_dtype

from service.backends.contract import ServedTensor, check_contract
from service.backends.triton.connection import TritonConnection
from service.errors import ModelMismatch
from service.registry import ModelCard

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelInfo:
    """What Triton said about a model at load time (for ``describe``)."""

    platform: str
    backend: str
    versions: list[str]
    max_batch_size: int


async def verify(connection: TritonConnection, card: ModelCard, batch_rows: int) -> ModelInfo:
    """Fetch a model's metadata and config and check them (``ModelMismatch`` on any difference)."""
    metadata = await connection.query(f"{card.name} metadata", "get_model_metadata", card.name)
    config = await connection.query(f"{card.name} config", "get_model_config", card.name)
    return check_served(card, metadata, config.get("config", config), batch_rows)  # gRPC wraps the config


def check_served(card: ModelCard, metadata: dict[str, Any], config: dict[str, Any], batch_rows: int) -> ModelInfo:
    """Tensors as the card states, a batch limit of at least ``batch_rows`` and the card's version."""
    check_contract(card, _served(metadata.get("inputs", [])), _served(metadata.get("outputs", [])))
    max_batch = int(config.get("max_batch_size", 0))
    if 0 < max_batch < batch_rows:
        raise ModelMismatch(
            f"{card.name}: Triton's max_batch_size {max_batch} is below the gateway's batches of {batch_rows} "
            "(FIQA_MAX_BATCH_SIZE): rebuild the repository or lower the setting"
        )
    served_version = config.get("parameters", {}).get("card_version", {}).get("string_value")
    if served_version is None:
        log.warning("%s: the Triton config states no card_version; cannot tell which card it was built from", card.name)
    elif served_version != card.version:
        raise ModelMismatch(
            f"{card.name}: Triton serves card version {served_version!r}, the gateway has {card.version!r}"
        )
    return ModelInfo(
        platform=str(metadata.get("platform", "")),
        backend=str(config.get("backend", "")),
        versions=[str(version) for version in metadata.get("versions", [])],
        max_batch_size=max_batch,
    )


def _served(tensors: list[dict[str, Any]]) -> list[ServedTensor]:
    """Triton's metadata tensors in card spelling (``FP32`` -> ``float32``; gRPC JSON gives dims as strings)."""
    served = []
    for tensor in tensors:
        datatype = str(tensor.get("datatype", ""))
        numpy_type = triton_to_np_dtype(datatype)
        dtype = np.dtype(numpy_type).name if numpy_type is not None else datatype
        served.append(ServedTensor(tensor["name"], dtype, tuple(int(dim) for dim in tensor.get("shape", []))))
    return served
