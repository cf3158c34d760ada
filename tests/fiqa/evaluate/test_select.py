"""The default-model rule: cost counted from ONNX graphs, the choice made on validation figures only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from fiqa.evaluate.select import choose, onnx_multiply_adds

REPO = Path(__file__).resolve().parents[3]


def _tiny(path: Path) -> None:
    """Conv 3->4 (3x3, stride 1, pad 1) on 8x8, flatten, Gemm 256->2: 8*8*4 * 3*3*3 + 256*2 multiply-adds."""
    weight = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    dense = numpy_helper.from_array(np.ones((2, 256), np.float32), "d")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Flatten", ["c"], ["f"]),
        helper.make_node("Gemm", ["f", "d"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
        [weight, dense],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_multiply_adds_by_hand(tmp_path: Path) -> None:
    _tiny(tmp_path / "tiny.onnx")
    assert onnx_multiply_adds(tmp_path / "tiny.onnx") == 8 * 8 * 4 * 27 + 256 * 2


def test_multiply_adds_of_the_recognition_network_match_the_mobilefacenet_paper() -> None:
    """fr_feature is the paper's MobileFaceNet: 221 M multiply-adds per 112x112 face."""
    path = REPO / "models" / "fr_feature" / "model.onnx"
    assert 215e6 < onnx_multiply_adds(path) < 227e6


def test_choice_is_the_cheap_model_with_the_lowest_mean_cross_model_area() -> None:
    rows = [
        {"model": "heavy", "eligible": False, "mean_pauc": 0.5},
        {"model": "a", "eligible": True, "mean_pauc": 0.8},
        {"model": "b", "eligible": True, "mean_pauc": 0.7},
        {"model": "unmeasured", "eligible": True, "mean_pauc": None},
    ]
    assert choose(rows) == "b"
    assert choose([rows[0]]) is None
