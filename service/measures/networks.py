"""The networks component measures read (FaceMesh...): each face's crops as the network's card asks for them, and the
network's outputs handed back per face, by output role. The pipeline runs the network through its micro-batcher, batch
work (evaluation) through the runtime's blocking ``infer``; both prepare and split here, so they read the same."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import numpy as np

from service.align import AlignedFace, network_crops
from service.detect import Face
from service.quality.base import network_input
from service.registry import ModelCard

Outputs = dict[str, np.ndarray]
# Beside a network's outputs, each face gets the tensor the network read and each crop's frame -> crop transform, so
# a measure can look at the pixels the network saw (BackgroundUniformity) and at what of them lay inside the frame.
INPUT, TRANSFORM = "input", "transform"


@dataclass(frozen=True)
class Prepared:
    """A network's input for every face's crops, face after face; how many crops each face has (two for a network
    that reads each eye) and each crop's 2x3 frame -> crop transform."""

    inputs: dict[str, np.ndarray]
    crops_per_face: int
    transforms: np.ndarray


def network_inputs(
    card: ModelCard, rgb: np.ndarray, faces: list[Face], aligned: list[AlignedFace] | None = None, scale: int = 1
) -> Prepared:
    """Cut and normalise every face's crops as ``card`` asks (reusing the faces' ArcFace crops when ``aligned``);
    ``rgb`` may be the frame decoded at 1/``scale`` (``service.decode_scale``)."""
    assert card.preprocess is not None
    crops_of = aligned or [None] * len(faces)
    cut = [
        network_crops(rgb, face.landmarks, card.preprocess, crop, scale=scale)
        for face, crop in zip(faces, crops_of, strict=True)
    ]
    crops = np.concatenate([crops for crops, _ in cut])
    tensor = network_input(crops, card.preprocess)
    return Prepared({card.single_input(): tensor}, len(crops) // len(faces), np.concatenate([t for _, t in cut]))


def per_face(card: ModelCard, prepared: Prepared, outputs: Outputs) -> list[Outputs]:
    """Each face's rows of every output, keyed by the output's role (its name when it has none), of the input
    (``input``) and of the crops' transforms (``transform``); the card's ``parameters`` come along as arrays (a
    classifier's class names, FaceMesh's frontal template)."""
    parameters = _parameters(card)
    rows = {spec.role or spec.name: outputs[spec.name] for spec in card.outputs}
    rows |= {INPUT: prepared.inputs[card.single_input()], TRANSFORM: prepared.transforms}
    step = prepared.crops_per_face
    faces = len(prepared.transforms) // step
    return [
        {**parameters, **{key: value[index * step : (index + 1) * step] for key, value in rows.items()}}
        for index in range(faces)
    ]


Infer = Callable[[str, dict[str, np.ndarray]], Awaitable[Outputs]]


async def run_networks(
    cards: Mapping[str, ModelCard],
    networks: list[str],
    rgb: np.ndarray,
    faces: list[Face],
    infer: Infer,
    aligned: list[AlignedFace] | None = None,
    scale: int = 1,
) -> list[dict[str, Outputs]]:
    """Per face, the outputs (by role) of each of ``networks``, side by side: each cuts its crops in a worker
    thread (from the faces' ArcFace crops when ``aligned``; ``rgb`` at 1/``scale`` of the frame), then runs through
    ``infer`` (the pipeline's micro-batchers, or the backend directly for batch work)."""

    async def run(network: str) -> list[Outputs]:
        prepared = await asyncio.to_thread(network_inputs, cards[network], rgb, faces, aligned, scale)
        return per_face(cards[network], prepared, await infer(network, prepared.inputs))

    found: list[dict[str, Outputs]] = [{} for _ in faces]
    for network, faces_outputs in zip(networks, await asyncio.gather(*map(run, networks)), strict=True):
        for face, outputs in zip(found, faces_outputs, strict=True):
            face[network] = outputs
    return found


_PARAMETERS: dict[tuple[str, str, str | None], Outputs] = {}


def _parameters(card: ModelCard) -> Outputs:
    """A card's ``parameters`` as arrays, converted once per card (the frontal template is 1,404 numbers)."""
    key = (card.name, card.version, card.sha256)
    if key not in _PARAMETERS:
        _PARAMETERS[key] = {name: np.asarray(value) for name, value in card.parameters.items()}
    return _PARAMETERS[key]
