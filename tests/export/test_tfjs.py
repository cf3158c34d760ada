"""export.tfjs: the model.json patch, the committed TF.js conversions and what their cards promise.

TensorFlow is not installed here (CI): the conversion itself is an export-time step (``python -m export
convert-tfjs``); these tests check its pure parts and the ONNX files it committed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from export.onnx_io import check_against_card, read_signature
from export.tfjs import add_fused_targs, input_shape, rename_tensors
from fiqa.ifqa.evaluate import detect_and_align
from service.assets import fetch_card, sha256_of
from service.quality.base import network_input
from service.registry import Registry
from service.settings import Settings

CONVERTED = ["faceres"]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(Settings().models_dir)


def test_fused_nodes_get_one_float_targ_per_extra_argument() -> None:
    model = {
        "modelTopology": {
            "node": [
                {"name": "x", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": [{"size": "-1"}, {}]}}}},
                {"name": "c", "op": "_FusedConv2D", "attr": {"num_args": {"i": "1"}}},
                {"name": "d", "op": "FusedDepthwiseConv2dNative", "attr": {"num_args": {"i": "2"}}},
                {"name": "m", "op": "_FusedMatMul", "attr": {"num_args": {"i": "1"}, "TArgs": {"list": {"type": []}}}},
                {"name": "r", "op": "Relu", "attr": {}},
            ]
        }
    }
    assert add_fused_targs(model) == 2  # the node that has TArgs keeps it
    nodes = {node["name"]: node["attr"] for node in model["modelTopology"]["node"]}
    assert nodes["c"]["TArgs"] == {"list": {"type": ["DT_FLOAT"]}}
    assert nodes["d"]["TArgs"] == {"list": {"type": ["DT_FLOAT", "DT_FLOAT"]}}
    assert nodes["m"]["TArgs"] == {"list": {"type": []}}
    assert "TArgs" not in nodes["r"]
    assert add_fused_targs(model) == 0  # idempotent
    assert input_shape(model) == [-1, -1]  # TF.js leaves out the size of an unknown axis


def test_rename_tensors_renames_every_use() -> None:
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Relu", ["img:0"], ["out:0"])],
        "g",
        [onnx.helper.make_tensor_value_info("img:0", onnx.TensorProto.FLOAT, [1, 2])],
        [onnx.helper.make_tensor_value_info("out:0", onnx.TensorProto.FLOAT, [1, 2])],
    )
    model = onnx.helper.make_model(graph)
    rename_tensors(model, {"img:0": "input", "out:0": "embedding"})
    onnx.checker.check_model(model)
    assert [model.graph.input[0].name, model.graph.output[0].name] == ["input", "embedding"]
    assert list(model.graph.node[0].input) == ["input"] and list(model.graph.node[0].output) == ["embedding"]


@pytest.mark.parametrize("name", CONVERTED)
def test_committed_file_matches_its_card(registry: Registry, name: str, tmp_path: Path) -> None:
    card = registry[name]
    path = registry.file_of(name)
    assert card.kind == "face_recognition" and card.preprocess is not None and card.preprocess.layout == "NHWC"
    assert sha256_of(path.read_bytes()) == card.sha256
    assert path.stat().st_size < 16 << 20  # committed: keep it small
    check_against_card(card, read_signature(path))  # names, dtypes, dims (dynamic batch) as the card states
    assert "present" in fetch_card(card, path, tmp_path)  # `make models` accepts the committed file
    assert {"lfw_view2_accuracy", "onnx_parity_max_abs_diff"} <= set(card.metrics)


@pytest.fixture(scope="module")
def faces(samples: Path) -> np.ndarray:
    return detect_and_align([samples / n for n in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")]).crops


@pytest.mark.parametrize("name", CONVERTED)
def test_same_person_is_closer_than_another(registry: Registry, name: str, faces: np.ndarray) -> None:
    card = registry[name]
    assert card.preprocess is not None
    session = ort.InferenceSession(str(registry.file_of(name)), providers=["CPUExecutionProvider"])
    tensor = network_input(faces, card.preprocess)
    assert tensor.shape[1:] == tuple(card.inputs[0].shape[1:])
    embedding = session.run(None, {card.inputs[0].name: tensor})[0]
    assert embedding.shape == (len(faces), card.outputs[0].shape[1]) and np.isfinite(embedding).all()
    embedding /= np.linalg.norm(embedding, axis=1, keepdims=True)
    cosine = embedding @ embedding.T
    obama, biden = [0, 1, 2], 3
    mated = [cosine[i, j] for i in obama for j in obama if i < j]
    assert min(mated) > max(cosine[i, biden] for i in obama), cosine.round(3)
