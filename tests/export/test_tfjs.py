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
from export.tfjs import (
    HUMAN_MODELS,
    HUMAN_MODELS_INTEGRITY,
    PARITY_MARKER,
    add_fused_targs,
    canonical_names,
    free_batch,
    input_shape,
    rename_tensors,
    write_parity_line,
)
from fiqa.ifqa.evaluate import detect_and_align
from service.assets import fetch_card, sha256_of
from service.quality.base import network_input
from service.registry import Registry
from service.settings import Settings

CONVERTED = ["faceres", "facemesh", "iris", "emotion", "selfie"]


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
    assert card.preprocess is not None and card.preprocess.layout == "NHWC"
    assert sha256_of(path.read_bytes()) == card.sha256
    assert path.stat().st_size < 16 << 20  # committed: keep it small
    check_against_card(card, read_signature(path))  # names, dtypes, dims (dynamic batch) as the card states
    assert card.inputs[0].shape[0] == -1
    assert "present" in fetch_card(card, path, tmp_path)  # `make models` accepts the committed file
    assert (card.source["npm"], card.source["integrity"]) == (HUMAN_MODELS, HUMAN_MODELS_INTEGRITY)
    assert card.source["conversion"] == f"python -m export convert-tfjs --name {name}"
    assert card.metrics["onnx_parity_max_abs_diff"].endswith(f"{card.source['conversion']})")
    assert card.licence


@pytest.mark.parametrize("name", ["facemesh", "iris", "emotion", "selfie"])
def test_readme_quotes_the_parity_the_command_wrote(registry: Registry, name: str) -> None:
    lines = (registry.models_dir / name / "README.md").read_text().splitlines()
    parity = registry[name].metrics["onnx_parity_max_abs_diff"]
    assert lines[lines.index(PARITY_MARKER) + 1] == f"Parity, max |onnxruntime - TensorFlow|: {parity}."


def test_parity_line_replaces_the_one_under_the_marker(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    assert not write_parity_line(readme, "x")  # no README: nothing written
    readme.write_text(f"# m\n\n{PARITY_MARKER}\n")
    assert write_parity_line(readme, "first")
    assert write_parity_line(readme, "second")
    assert readme.read_text() == f"# m\n\n{PARITY_MARKER}\nsecond\n"
    readme.write_text(f"{PARITY_MARKER}\nold\n\n## next\n")
    write_parity_line(readme, "new")
    assert readme.read_text() == f"{PARITY_MARKER}\nnew\n\n## next\n"
    readme.write_text("# no marker\n")
    assert not write_parity_line(readme, "x") and readme.read_text() == "# no marker\n"


def test_batch_one_graph_gets_a_free_batch_axis() -> None:
    dims = [{"size": "1"}, {"size": "256"}, {"size": "256"}, {"size": "3"}]
    model = {
        "modelTopology": {"node": [{"name": "x", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": dims}}}}]},
        "signature": {"inputs": {"x:0": {"tensorShape": {"dim": [dict(d) for d in dims]}}}},
    }
    assert free_batch(model) and input_shape(model) == [-1, 256, 256, 3]
    assert model["signature"]["inputs"]["x:0"]["tensorShape"]["dim"][0] == {"size": "-1"}
    assert not free_batch(model)  # already free


def test_faceres_card_quotes_its_lfw_accuracy(registry: Registry) -> None:
    assert registry["faceres"].kind == "face_recognition" and "lfw_view2_accuracy" in registry["faceres"].metrics


@pytest.fixture(scope="module")
def faces(samples: Path) -> np.ndarray:
    return detect_and_align([samples / n for n in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")]).crops


@pytest.mark.parametrize("name", ["faceres"])
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


def _two_branches(order: list[int], constant: str, inner: str) -> onnx.ModelProto:
    """x -> (x + c) and relu(x) -> their product; the branches stored in ``order``, made-up names as given."""
    helper = onnx.helper
    branches = [
        helper.make_node("Add", ["x", constant], [inner], name=f"Add__{inner}"),
        helper.make_node("Relu", ["x"], ["r__7"], name="Relu__7"),
    ]
    nodes = [branches[i] for i in order] + [helper.make_node("Mul", [inner, "r__7"], ["y"], name="Mul__9")]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])],
        [helper.make_tensor(constant, onnx.TensorProto.FLOAT, [2], [1.0, -3.0])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_canonical_names_make_equal_graphs_equal_files() -> None:
    """Two conversions that differ only in made-up names and the order of independent nodes give the same bytes,
    which compute what they did."""
    first = _two_branches([0, 1], "const_fold_opt__12", "a__3")
    second = _two_branches([1, 0], "Relu6_min__40", "a__8")
    x = np.array([-1.0, 2.0], dtype=np.float32)
    want = ort.InferenceSession(first.SerializeToString()).run(None, {"x": x})[0]
    for model in (first, second):
        canonical_names(model)
        onnx.checker.check_model(model)
    assert first.SerializeToString() == second.SerializeToString()
    assert [value.name for value in (*first.graph.input, *first.graph.output)] == ["x", "y"]
    np.testing.assert_array_equal(ort.InferenceSession(first.SerializeToString()).run(None, {"x": x})[0], want)
