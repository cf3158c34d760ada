"""The committed single-pass quality networks (regressors, ViT-FIQA): ONNX vs PyTorch weights on real faces."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from fiqa.models.served import PREPROCESS, load_served, to_input
from service.quality.base import network_input
from service.registry import Registry
from service.settings import Settings

REGISTRY = Registry(Settings().models_dir)
REGRESSORS = [n for n in REGISTRY.quality_methods() if REGISTRY[n].method == "regression"]


@pytest.mark.parametrize("name", REGRESSORS)
def test_onnx_matches_pytorch_on_real_faces(name: str, real_faces: np.ndarray) -> None:
    card = REGISTRY[name]
    assert card.preprocess == PREPROCESS  # the card states exactly the training normalisation
    weights = REGISTRY.file_of(name).with_name("model.pt")
    model = load_served(weights)
    with torch.no_grad():
        want = model(to_input(real_faces).contiguous()).numpy()
    onnx = ort.InferenceSession(str(REGISTRY.file_of(name)), providers=["CPUExecutionProvider"])
    tensor = network_input(real_faces, card.preprocess)  # what the gateway feeds it
    for batch in (tensor[:1], tensor):  # batch 1 and 3: the batch axis is dynamic
        got = onnx.run([card.outputs[0].name], {card.inputs[0].name: batch})[0]
        assert got.shape == (len(batch), 1)
        assert np.abs(got - want[: len(batch)]).max() <= 1e-4
