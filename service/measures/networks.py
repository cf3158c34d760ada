"""The networks component measures read (FaceMesh...): each face's crops as the network's card asks for them, and the
network's outputs handed back per face, by output role. The pipeline runs the network through its micro-batcher, batch
work (evaluation) through the runtime's blocking ``infer``; both prepare and split here, so they read the same."""

from __future__ import annotations

import numpy as np

from service.align import network_crops
from service.detect import Face
from service.quality.base import network_input
from service.registry import ModelCard

Outputs = dict[str, np.ndarray]


def network_inputs(
    card: ModelCard, rgb: np.ndarray, faces: list[Face], scale: int = 1
) -> tuple[dict[str, np.ndarray], int]:
    """The network's input for every face's crops, face after face, and how many crops each face has (two for a
    network that reads each eye); ``rgb`` may be the frame decoded at 1/``scale`` (``service.decode_scale``)."""
    assert card.preprocess is not None
    crops = [network_crops(rgb, face.landmarks, card.preprocess, scale=scale)[0] for face in faces]
    crops = np.concatenate(crops)
    return {card.single_input(): network_input(crops, card.preprocess)}, len(crops) // len(faces)


def per_face(card: ModelCard, outputs: Outputs, faces: int, crops_per_face: int) -> list[Outputs]:
    """Each face's rows of every output, keyed by the output's role (its name when it has none); a classifier's
    class names from its card come along as ``classes``."""
    classes = {"classes": np.asarray(card.parameters["classes"])} if "classes" in card.parameters else {}
    return [
        {
            **classes,
            **{
                spec.role or spec.name: outputs[spec.name][index * crops_per_face : (index + 1) * crops_per_face]
                for spec in card.outputs
            },
        }
        for index in range(faces)
    ]
