"""Multiply-adds per face counted from ONNX graphs: by hand, the paper network, and the cheap served regressors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from fiqa.evaluate.cost import diffiqa_multiply_adds, onnx_multiply_adds, own_multiply_adds
from service.registry import Registry

REPO = Path(__file__).resolve().parents[3]


def _save(path: Path, nodes: list, weights: list, output: list) -> None:
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, output)],
        weights,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_multiply_adds_by_hand(tmp_path: Path) -> None:
    """Conv 3->4 (3x3, stride 1, pad 1) on 8x8, flatten, Gemm 256->2: 8*8*4 * 3*3*3 + 256*2 multiply-adds."""
    weight = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    dense = numpy_helper.from_array(np.ones((2, 256), np.float32), "d")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Flatten", ["c"], ["f"]),
        helper.make_node("Gemm", ["f", "d"], ["y"], transB=1),
    ]
    _save(tmp_path / "tiny.onnx", nodes, [weight, dense], ["batch", 2])
    assert onnx_multiply_adds(tmp_path / "tiny.onnx") == 8 * 8 * 4 * 27 + 256 * 2


def test_a_resample_written_as_a_matrix_product_is_counted(tmp_path: Path) -> None:
    """(1, 3, 8, 8) @ (8, 4): the width resampled 8 -> 4 by a matrix, 3*8*4 outputs of 8 products each."""
    resample = numpy_helper.from_array(np.full((8, 4), 0.5, np.float32), "r")
    _save(tmp_path / "resample.onnx", [helper.make_node("MatMul", ["x", "r"], ["y"])], [resample], ["batch", 3, 8, 4])
    assert onnx_multiply_adds(tmp_path / "resample.onnx") == 3 * 8 * 4 * 8


def test_multiply_adds_of_the_recognition_network_match_the_mobilefacenet_paper() -> None:
    """fr_feature is the paper's MobileFaceNet: 221 M multiply-adds per 112x112 face."""
    path = REPO / "models" / "fr_feature" / "model.onnx"
    assert 215e6 < onnx_multiply_adds(path) < 227e6


def test_diffiqa_runs_ten_recognition_passes_and_the_r64_regressor_a_third_of_one() -> None:
    """Default n = 4: 2 + 2n passes of fr_feature; diffiqa_r64 reads its input resampled to 64x64 in the graph."""
    registry = Registry(REPO / "models")
    fr_feature = onnx_multiply_adds(registry.file_of("fr_feature"))
    assert diffiqa_multiply_adds(registry) == 10 * fr_feature
    assert own_multiply_adds(registry, "diffiqa") is None  # runs fr_feature's network, none of its own
    r64 = own_multiply_adds(registry, "diffiqa_r64")
    assert r64 is not None and r64 < diffiqa_multiply_adds(registry) / 20
    assert r64 < 0.34 * fr_feature  # (64 / 112)^2 of the convolutions, plus the resample's products
