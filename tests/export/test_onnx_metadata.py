"""Shipped ONNX files carry no trace of the machine that exported them; stripping leaves the network unchanged."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from export.onnx_export import strip_build_metadata

REPO = Path(__file__).resolve().parents[2]
HOST_PATHS = (b"/root/", b"/home/", b"/work/", b"/tmp/", b"/Users/", b"site-packages")


def _committed_onnx() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.onnx"], cwd=REPO, capture_output=True, text=True, check=True)
    return [REPO / line for line in listed.stdout.split()]


def test_some_onnx_files_are_committed() -> None:
    assert len(_committed_onnx()) >= 5


@pytest.mark.parametrize("path", _committed_onnx(), ids=lambda p: str(p.relative_to(REPO)))
def test_committed_onnx_holds_no_build_host_paths(path: Path) -> None:
    data = path.read_bytes()
    assert not [marker for marker in HOST_PATHS if marker in data]
    model = onnx.load_from_string(data)
    assert not any(node.metadata_props for node in model.graph.node)


def test_stripping_removes_node_metadata_and_keeps_the_outputs(tmp_path: Path) -> None:
    node = helper.make_node("MatMul", ["x", "w"], ["y"], doc_string="File /root/build/model.py, line 3")
    entry = node.metadata_props.add()
    entry.key, entry.value = "pkg.torch.onnx.stack_trace", 'File "/home/someone/model.py", line 12'
    weight = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(3, 2), "w")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
        [weight],
    )
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    x = np.ones((2, 3), np.float32)
    before = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert strip_build_metadata(path) == 2
    assert b"/root/" not in path.read_bytes() and b"/home/" not in path.read_bytes()
    after = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_array_equal(before, after)
    assert strip_build_metadata(path) == 0
