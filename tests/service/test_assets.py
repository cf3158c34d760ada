"""service.assets: the graph patches that turn a batch-1 export into a dynamic-batch one, and their effect."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from service.assets import fetch_card, make_dynamic, patch_fixed_batch_reshape, sha256_of
from service.registry import ModelCard, Registry, TensorSpec
from service.settings import REPO_ROOT

BIAS = np.arange(6, dtype=np.float32) / 10


def tiny_batch1_model() -> onnx.ModelProto:
    """x (1,2,3) -> Reshape([1,-1]) -> + bias -> y (1,6), exported old-style: weights listed as graph inputs."""
    shape = numpy_helper.from_array(np.array([1, -1], dtype=np.int64), "flat_shape")
    bias = numpy_helper.from_array(BIAS, "bias")
    unused = numpy_helper.from_array(np.ones(4, dtype=np.float32), "unused_weight")
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["x", "flat_shape"], ["flat"]),
            helper.make_node("Add", ["flat", "bias"], ["y"]),
        ],
        "tiny",
        inputs=[
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3]),
            helper.make_tensor_value_info("bias", TensorProto.FLOAT, [6]),
            helper.make_tensor_value_info("unused_weight", TensorProto.FLOAT, [4]),
        ],
        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6])],
        initializer=[shape, bias, unused],
        value_info=[helper.make_tensor_value_info("flat", TensorProto.FLOAT, [1, 6])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


TINY_CARD = ModelCard(
    name="tiny",
    version="1",
    kind="face_recognition",
    file="model.onnx",
    inputs=[TensorSpec(name="x", shape=[-1, 2, 3])],
    outputs=[TensorSpec(name="y", shape=[-1, 6])],
)


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def dims(value_info: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def test_patch_rewrites_the_batch_1_reshape() -> None:
    model = tiny_batch1_model()
    assert patch_fixed_batch_reshape(model) == 1
    target = next(init for init in model.graph.initializer if init.name == "flat_shape")
    np.testing.assert_array_equal(numpy_helper.to_array(target), [-1, 6])
    assert patch_fixed_batch_reshape(model) == 0  # idempotent


def test_patch_leaves_a_reshape_of_unknown_width_alone() -> None:
    """With no static width, [-1, 0] would mean "copy dim 1": the node must be left as it is, not guessed."""
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "flat_shape"], ["y"])],
        "unknown_width",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "c", 3])],
        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "w"])],
        initializer=[numpy_helper.from_array(np.array([1, -1], dtype=np.int64), "flat_shape")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    assert patch_fixed_batch_reshape(model) == 0
    np.testing.assert_array_equal(numpy_helper.to_array(model.graph.initializer[0]), [1, -1])


def test_make_dynamic_names_the_batch_axis_and_drops_weight_inputs() -> None:
    model = make_dynamic(tiny_batch1_model(), TINY_CARD)
    assert [vi.name for vi in model.graph.input] == ["x"]
    assert {init.name for init in model.graph.initializer} == {"flat_shape", "bias"}
    assert dims(model.graph.input[0]) == ["batch", 2, 3]
    assert dims(model.graph.output[0]) == ["batch", 6]
    assert len(model.graph.value_info) == 0


def test_patched_dynamic_model_runs_at_batch_3() -> None:
    model = tiny_batch1_model()
    patch_fixed_batch_reshape(model)
    model = make_dynamic(model, TINY_CARD)
    onnx.checker.check_model(model)
    x = np.random.default_rng(0).standard_normal((3, 2, 3)).astype(np.float32)
    (y,) = session(model).run(["y"], {"x": x})
    assert y.shape == (3, 6)
    np.testing.assert_allclose(y, x.reshape(3, 6) + BIAS, rtol=1e-6)


def test_without_the_reshape_patch_batches_collapse() -> None:
    """Why the patch exists: a dynamic input alone still flattens the whole batch into one row."""
    model = make_dynamic(tiny_batch1_model(), TINY_CARD)
    x = np.zeros((3, 2, 3), dtype=np.float32)
    try:
        (y,) = session(model).run(["y"], {"x": x})
    except Exception:  # onnxruntime may also refuse the broadcast outright
        return
    assert y.shape != (3, 6)


def test_unpatched_batch_1_model_refuses_batch_3() -> None:
    with pytest.raises(Exception, match=r"(?i)dimension|shape|index"):
        session(tiny_batch1_model()).run(["y"], {"x": np.zeros((3, 2, 3), dtype=np.float32)})


@pytest.fixture(scope="module")
def fr_session() -> ort.InferenceSession:
    path = Registry(REPO_ROOT / "models").file_of("fr_feature")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def test_fetched_fr_feature_is_dynamic(fr_session: ort.InferenceSession) -> None:
    (tensor,) = fr_session.get_inputs()
    assert tensor.name == "input"
    assert isinstance(tensor.shape[0], str) and tensor.shape[1:] == [3, 112, 112]
    assert fr_session.get_outputs()[0].name == "output"


def test_fetched_fr_feature_is_batch_independent(fr_session: ort.InferenceSession) -> None:
    x = np.random.default_rng(1).uniform(-1, 1, (5, 3, 112, 112)).astype(np.float32)
    (batch,) = fr_session.run(["output"], {"input": x})
    assert batch.shape == (5, 512)
    singles = np.concatenate([fr_session.run(["output"], {"input": x[i : i + 1]})[0] for i in range(5)])
    np.testing.assert_allclose(batch, singles, atol=1e-4, rtol=1e-4)
    assert np.abs(batch[0] - batch[1]).max() > 1e-3  # rows differ: the batch was not collapsed


def test_fetch_card_checks_a_present_file(tmp_path: Path) -> None:
    registry = Registry(REPO_ROOT / "models")
    target = registry.file_of("fr_feature")
    assert "present" in fetch_card(registry["fr_feature"], target, tmp_path)
    assert not any(tmp_path.iterdir())  # nothing downloaded when the file is there


def test_sha256_of() -> None:
    assert sha256_of(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_committed_conversion_is_checked_not_fetched(tmp_path: Path) -> None:
    """A card with ``source.conversion`` (made by ``export convert-tfjs``) ships its file: fetch verifies it, and a
    missing one is an error naming the command, never a download of the package's TF.js member."""
    target = tmp_path / "m" / "model.onnx"
    target.parent.mkdir()
    onnx.save(tiny_batch1_model(), str(target))
    source = {"npm": "pkg@1", "member": "package/m.json", "integrity": "sha512-x", "conversion": "python -m export x"}
    card = ModelCard(name="m", version="1", kind="face_recognition", file="model.onnx", source=source)
    good = card.model_copy(update={"sha256": sha256_of(target.read_bytes())})
    assert "present" in fetch_card(good, target, tmp_path)
    bad = card.model_copy(update={"sha256": "0" * 64})
    with pytest.raises(RuntimeError, match="differs"):
        fetch_card(bad, target, tmp_path)
    target.unlink()
    with pytest.raises(RuntimeError, match="python -m export x"):
        fetch_card(good, target, tmp_path)
