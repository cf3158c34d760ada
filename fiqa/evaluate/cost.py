"""Cost of a network per face in multiply-adds, counted from its ONNX graph: a figure no host load moves.

Wall time on a shared 2-core VM swings by a third from one hour to the next; the multiply-adds of what a served
graph runs compare models exactly, e.g. a single-pass regressor against the ten recognition passes of the analytic
``diffiqa`` scorer. The ONNX graph, not the PyTorch module, is counted so that every product in it is seen: an
in-graph resample written as matrices, a ViT's attention products.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from service.quality.diffiqa import DifFIQAPerturbation
from service.registry import Registry


def onnx_multiply_adds(path: Path) -> int:
    """Multiply-adds of one face through every Conv, ConvTranspose, MatMul and Gemm of an ONNX graph: counts what
    runs, products written into the graph (an in-graph resample as matrices) included. Shapes are read by running
    the graph once on a zero input, since shape inference cannot follow shapes computed at run time."""
    import onnxruntime as ort

    model = onnx.load(str(path))
    known = {output.name for output in model.graph.output}
    for node in model.graph.node:
        model.graph.output.extend(helper.make_empty_tensor_value_info(o) for o in node.output if o not in known)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {
        i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], dtype=np.float32)
        for i in session.get_inputs()
    }
    names = [o.name for o in session.get_outputs()]
    shapes = {name: list(value.shape) for name, value in zip(names, session.run(None, feed), strict=True)}
    shapes.update({i.name: list(feed[i.name].shape) for i in session.get_inputs()})
    shapes.update({init.name: list(init.dims) for init in model.graph.initializer})
    total = 0
    for node in model.graph.node:
        if node.op_type in ("Conv", "ConvTranspose"):
            weight = shapes[node.input[1]]  # (out, in/groups, kh, kw); transposed: (in, out/groups, kh, kw)
            side = node.output[0] if node.op_type == "Conv" else node.input[0]
            total += int(np.prod(shapes[side])) * int(np.prod(weight[1:]))
        elif node.op_type in ("MatMul", "Gemm"):
            left = shapes[node.input[0]]
            transposed = node.op_type == "Gemm" and any(a.name == "transA" and a.i for a in node.attribute)
            total += int(np.prod(shapes[node.output[0]])) * (left[-2] if transposed else left[-1])
    return total


def diffiqa_multiply_adds(registry: Registry) -> int:
    """The analytic scorer's cost per face: 2 + 2n passes of ``fr_feature`` (the paper MobileFaceNet), n from its
    card."""
    passes = DifFIQAPerturbation(registry["diffiqa"], registry).copies  # the crop, its mirror, n noisy copies of each
    return passes * onnx_multiply_adds(registry.file_of("fr_feature"))


def own_multiply_adds(registry: Registry, name: str) -> int | None:
    """A quality card's cost per face when it runs one network of its own; None when it runs others' (``diffiqa``)."""
    card = registry[name]
    return onnx_multiply_adds(registry.file_of(name)) if card.file and not card.uses else None
