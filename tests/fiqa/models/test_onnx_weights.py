"""The fr_feature ONNX graph read into our MobileFaceNet: same embeddings, input change folded into the stem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from fiqa.models.onnx_weights import folded_layers, input_change, mobilefacenet_from_onnx
from fiqa.models.served import PREPROCESS, to_input
from service.quality.base import network_input
from service.registry import Preprocess, Registry
from service.settings import Settings

REGISTRY = Registry(Settings().models_dir)


def test_the_copy_embeds_real_faces_like_the_onnx_teacher(real_faces: np.ndarray) -> None:
    import onnxruntime as ort

    card = REGISTRY["fr_feature"]
    path = REGISTRY.file_of("fr_feature")
    model = mobilefacenet_from_onnx(path, card.preprocess, PREPROCESS)
    with torch.no_grad():
        ours = model(to_input(real_faces).contiguous()).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    teacher = session.run(None, {card.inputs[0].name: network_input(real_faces, card.preprocess)})[0]
    assert ours.shape == teacher.shape == (3, 512)
    cosine = (ours * teacher).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(teacher, axis=1)
    assert cosine.min() > 0.99999
    # only the stem's zero padding differs (a border effect): far below the embedding's scale
    assert np.abs(ours - teacher).max() < 1e-3 * np.abs(teacher).max()


def test_input_change_maps_one_normalisation_onto_the_other() -> None:
    source = Preprocess(channel_order="BGR", mean=127.0, scale=1 / 128)
    pixels = np.random.default_rng(0).integers(0, 256, (2, 112, 112, 3), dtype=np.uint8)
    a, c, reverse = input_change(source, PREPROCESS)
    assert reverse
    target = network_input(pixels, PREPROCESS)
    mapped = a * target[:, ::-1] + c
    np.testing.assert_allclose(mapped, network_input(pixels, source), atol=1e-5)


def graph_with(node: onnx.NodeProto, tmp_path: Path) -> Path:
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 1, 1], np.ones(12, np.float32))
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        [weight],
    )
    path = tmp_path / "g.onnx"
    onnx.save(helper.make_model(graph), str(path))
    return path


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (helper.make_node("Conv", ["x", "w"], ["y"]), "no bias"),
        (helper.make_node("Relu", ["x"], ["y"]), "unexpected op Relu"),
    ],
)
def test_graphs_that_are_not_a_folded_mobilefacenet_are_refused(
    node: onnx.NodeProto, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=message):
        folded_layers(graph_with(node, tmp_path))


def test_a_graph_of_another_shape_is_refused(tmp_path: Path) -> None:
    bias = helper.make_tensor("b", TensorProto.FLOAT, [4], np.zeros(4, np.float32))
    path = graph_with(helper.make_node("Conv", ["x", "w", "b"], ["y"]), tmp_path)
    model = onnx.load(str(path))
    model.graph.initializer.append(bias)
    onnx.save(model, str(path))
    with pytest.raises(ValueError, match="1 convs"):
        mobilefacenet_from_onnx(path, PREPROCESS, PREPROCESS)
