"""TF.js graph model -> ONNX (tf2onnx ``--tfjs``) and TensorFlow's own outputs on given inputs, for the parity check.

Runs inside the separate conversion venv (``make convert-env``: tensorflow-cpu + tf2onnx), never in the gateway's,
as a script (``python export/tfjs_worker.py ...``) so that it imports nothing of this project. ``export.tfjs`` calls
it and checks onnxruntime against the outputs it saves. The model.json it reads is already patched (TArgs).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

FLOAT = {"type": "DT_FLOAT"}  # TF.js leaves out an attribute at its default, the element type T among them

# tf2onnx 1.17 still calls numpy.product, removed in numpy 2.
np.product = np.prod  # type: ignore[attr-defined]


def convert(model_json: Path, out: Path, outputs: list[str] | None, opset: int) -> None:
    """tf2onnx's own command line, in this process (so the numpy alias above applies)."""
    from tf2onnx import convert as tf2onnx_convert

    argv = ["tf2onnx", "--tfjs", str(model_json), "--output", str(out), "--opset", str(opset)]
    if outputs:
        argv += ["--outputs", ",".join(outputs)]
    sys.argv = argv
    tf2onnx_convert.main()


def graph_def(model_json: Path):
    """The graph model as a TensorFlow GraphDef with its weights as Const values (TF.js keeps them apart)."""
    import tensorflow as tf
    from google.protobuf.json_format import ParseDict
    from tensorflow.core.framework import types_pb2
    from tf2onnx.tfjs_utils import read_tfjs_weight

    model = json.loads(model_json.read_text())
    manifest = model["weightsManifest"][0]
    data = b"".join((model_json.parent / path).read_bytes() for path in manifest["paths"])
    weights, offset = {}, 0
    for weight in manifest["weights"]:
        name, array, size = read_tfjs_weight(weight, data, offset)
        weights[name] = array
        offset += size
    graph = tf.compat.v1.GraphDef()
    for node in model["modelTopology"]["node"]:
        node = dict(node)
        attr = dict(node.get("attr", {}))
        if node["op"] == "Const":
            dtype = tf.dtypes.as_dtype(types_pb2.DataType.Value(attr["dtype"]["type"]))
            attr = {"dtype": attr["dtype"]}
            node["attr"] = attr
            proto = graph.node.add()
            ParseDict(node, proto)
            proto.attr["value"].tensor.CopyFrom(
                tf.make_tensor_proto(weights[node["name"]].astype(dtype.as_numpy_dtype))
            )
            continue
        if node["op"] == "FusedDepthwiseConv2dNative" or _fuses_prelu(node):
            # TF.js fusions with no CPU kernel in TensorFlow: run their definition, conv -> BiasAdd [-> activation].
            graph.node.extend(_unfused_conv(node))
            continue
        if node["op"] == "Prelu":  # a TF.js op, not a TensorFlow one
            graph.node.extend(_prelu(node["name"], *node["input"], attr.get("T", FLOAT)))
            continue
        node["attr"] = attr
        ParseDict(node, graph.node.add())
    return graph


def _fused_ops(node: dict) -> list[str]:
    import base64

    return [base64.b64decode(op).decode() for op in node["attr"]["fused_ops"]["list"]["s"]]


def _fuses_prelu(node: dict) -> bool:
    return node["op"] == "_FusedConv2D" and "Prelu" in _fused_ops(node)


def _unfused_conv(node: dict) -> list:
    """A fused TF.js convolution as its convolution, BiasAdd and activation (Prelu spelled out), under the same name."""
    from google.protobuf.json_format import ParseDict
    from tensorflow.core.framework import node_def_pb2

    attr = node["attr"]
    fused = _fused_ops(node)
    prelu = fused[1:] == ["Prelu"]
    if fused[0] != "BiasAdd" or len(fused) > 2 or int(attr["num_args"]["i"]) != 1 + prelu:
        raise NotImplementedError(f"{node['name']}: fused_ops {fused}")
    keep = {key: attr[key] for key in ("T", "strides", "padding", "data_format", "dilations") if key in attr}
    if node["op"] == "_FusedConv2D":
        keep.update({key: attr[key] for key in ("explicit_paddings", "use_cudnn_on_gpu") if key in attr})
    conv = "Conv2D" if node["op"] == "_FusedConv2D" else "DepthwiseConv2dNative"
    name, (source, kernel, bias, *alpha) = node["name"], node["input"]
    steps = [{"name": f"{name}/conv", "op": conv, "input": [source, kernel], "attr": keep}]
    steps.append(
        {
            "name": f"{name}/bias",
            "op": "BiasAdd",
            "input": [f"{name}/conv", bias],
            "attr": {"T": attr.get("T", FLOAT), "data_format": attr.get("data_format", {"s": "TkhXQw=="})},
        }
    )
    if prelu:
        protos = [ParseDict(step, node_def_pb2.NodeDef()) for step in steps]
        return protos + _prelu(name, f"{name}/bias", alpha[0], attr.get("T", FLOAT))
    if len(fused) == 2:
        steps.append(
            {"name": f"{name}/act", "op": fused[1], "input": [f"{name}/bias"], "attr": {"T": attr.get("T", FLOAT)}}
        )
    steps.append({"name": name, "op": "Identity", "input": [steps[-1]["name"]], "attr": {"T": attr.get("T", FLOAT)}})
    return [ParseDict(step, node_def_pb2.NodeDef()) for step in steps]


def _prelu(name: str, source: str, alpha: str, dtype: dict) -> list:
    """TF.js's ``Prelu`` (x where x >= 0, alpha * x below) as Relu(x) - alpha * Relu(-x), named ``name``."""
    from google.protobuf.json_format import ParseDict
    from tensorflow.core.framework import node_def_pb2

    t = {"T": dtype}
    steps = [
        {"name": f"{name}/pos", "op": "Relu", "input": [source], "attr": t},
        {"name": f"{name}/negx", "op": "Neg", "input": [source], "attr": t},
        {"name": f"{name}/neg", "op": "Relu", "input": [f"{name}/negx"], "attr": t},
        {"name": f"{name}/scaled", "op": "Mul", "input": [alpha, f"{name}/neg"], "attr": t},
        {"name": name, "op": "Sub", "input": [f"{name}/pos", f"{name}/scaled"], "attr": t},
    ]
    return [ParseDict(step, node_def_pb2.NodeDef()) for step in steps]


def run_tensorflow(model_json: Path, inputs: np.ndarray, outputs: list[str]) -> list[np.ndarray]:
    """TensorFlow's execution of the same graph (the reference the ONNX file is checked against)."""
    import tensorflow as tf

    placeholder = next(
        n["name"] for n in json.loads(model_json.read_text())["modelTopology"]["node"] if n["op"] == "Placeholder"
    )
    with tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(graph_def(model_json), name="")
        with tf.compat.v1.Session(graph=graph) as session:
            fetches = [graph.get_tensor_by_name(name if ":" in name else f"{name}:0") for name in outputs]
            # One face at a time: some graphs fix batch-1 shapes in constants (selfie's transposed convolution).
            rows = [session.run(fetches, {f"{placeholder}:0": row[None]}) for row in inputs]
            return [np.concatenate([row[k] for row in rows]) for k in range(len(fetches))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-json", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="ONNX file to write")
    parser.add_argument("--outputs", default="", help="comma-separated TF tensor names (default: the signature's)")
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--inputs", type=Path, help=".npy batch to run TensorFlow on")
    parser.add_argument("--reference", type=Path, help=".npz of TensorFlow's outputs on --inputs")
    args = parser.parse_args()
    outputs = [name for name in args.outputs.split(",") if name]
    convert(args.model_json, args.out, outputs or None, args.opset)
    if args.inputs and args.reference:
        if not outputs:  # what tf2onnx chose: the signature's outputs, or the graph's sinks
            import onnx

            outputs = [value.name for value in onnx.load(str(args.out), load_external_data=False).graph.output]
        import tensorflow as tf
        import tf2onnx

        results = run_tensorflow(args.model_json, np.load(args.inputs), outputs)
        tools = f"TensorFlow {tf.__version__} (tf2onnx {tf2onnx.__version__})"
        named = {f"output{i}": value for i, value in enumerate(results)}
        np.savez(args.reference, **named, names=np.array(outputs), tools=np.array(tools))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
