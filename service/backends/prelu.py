"""PRelu with a per-channel slope, rewritten for onnxruntime's CPU kernels as two depthwise 1x1 convolutions.

onnxruntime lays convolutions out in blocks of channels (NCHWc) on CPU, and PRelu has no kernel in that layout: each
PRelu of a network made of convolutions forces its tensor out of the blocked layout and back. FaceMesh has 73 of
them and spends about half its time there; the MobileFaceNet quality and recognition networks have 33-34.
PRelu(x) = a·x + (1 − a)·Relu(x) with the slope a per channel, i.e. a depthwise 1x1 convolution of x with weights a
plus one of Relu(x) with weights 1 − a: operations the blocked layout keeps (a convolution absorbs the Relu and the
Add). The rewrite is exact in arithmetic; floating-point rounding moves FaceMesh's points by under 1e-3 pixels and
the quality and recognition outputs by under 1e-4 on real faces (tests/service/backends/test_prelu.py). It is
applied in memory to the bytes the card's checksum has verified; the file on disk (and what Triton serves) is
unchanged.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper


def depthwise_prelu(model: bytes) -> bytes:
    """``model`` with each PRelu whose slope is a per-channel constant, of shape (1, C, 1, 1) or (C, 1, 1) (the
    exporters write either), replaced as the module says; the model unchanged when it has none."""
    parsed = onnx.load_from_string(model)
    graph = parsed.graph
    constants = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    nodes, added = [], []
    for number, node in enumerate(graph.node):
        slope = constants.get(node.input[1]) if node.op_type == "PRelu" else None
        per_channel = slope is not None and slope.ndim in (3, 4) and slope.shape[-2:] == (1, 1)
        if not per_channel or slope.shape[:-3] not in ((), (1,)):
            nodes.append(node)
            continue
        channels, name = slope.shape[-3], f"{node.name or 'prelu'}_depthwise_{number}"
        weights = [
            numpy_helper.from_array(value.reshape(channels, 1, 1, 1).astype(np.float32), f"{name}_{part}")
            for part, value in (("slope", slope), ("rest", 1.0 - slope))
        ]
        added += weights
        conv = {"group": channels, "kernel_shape": [1, 1]}
        relu, scaled, kept = f"{name}_relu", f"{name}_scaled", f"{name}_kept"
        nodes += [
            helper.make_node("Relu", [node.input[0]], [relu], name=relu),
            helper.make_node("Conv", [node.input[0], weights[0].name], [scaled], name=scaled, **conv),
            helper.make_node("Conv", [relu, weights[1].name], [kept], name=kept, **conv),
            helper.make_node("Add", [scaled, kept], list(node.output), name=f"{name}_add"),
        ]
    if not added:
        return model
    used = {name for node in nodes for name in node.input}
    initializers = [tensor for tensor in graph.initializer if tensor.name in used] + added
    del graph.node[:], graph.initializer[:]
    graph.node.extend(nodes)
    graph.initializer.extend(initializers)
    return parsed.SerializeToString()
