"""What an ONNX file really declares (tensor names, dtypes, dims), checked against its model card.

The repository builder writes Triton configs from the file, not from the card, so a card that drifted from
its file is caught here (``CardMismatch``) instead of surfacing as a wrong score behind Triton.

Python 3.10 with onnx alone at import time (the gateway's card contract is imported by the one function that
uses it): the TensorRT step imports this module inside NGC's TensorRT container too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import onnx

if TYPE_CHECKING:
    from service.registry import ModelCard

# ONNX element type -> (card dtype, Triton data type)
_DTYPES: dict[int, tuple[str, str]] = {
    onnx.TensorProto.FLOAT: ("float32", "TYPE_FP32"),
    onnx.TensorProto.FLOAT16: ("float16", "TYPE_FP16"),
    onnx.TensorProto.INT64: ("int64", "TYPE_INT64"),
    onnx.TensorProto.UINT8: ("uint8", "TYPE_UINT8"),
    onnx.TensorProto.INT32: ("int32", "TYPE_INT32"),
    onnx.TensorProto.BOOL: ("bool", "TYPE_BOOL"),
}
TRITON_TYPE_OF = dict(_DTYPES.values())

# Ops the TensorRT ONNX parser rejects or handles with caveats, and what this project does about each.
TENSORRT_RISKS: dict[str, str] = {
    "InstanceNormalization": (
        "native INormalizationLayer since TensorRT 10 (a plugin before), but its variance overflows or loses "
        "precision in FP16: the tensorrt step pins these layers to FP32 (OBEY_PRECISION_CONSTRAINTS)"
    ),
    "GroupNormalization": "opset-21 op; same FP16 variance caveat as InstanceNormalization, pinned to FP32",
    "LayerNormalization": "FP16 accumulation loses precision on wide rows; pinned to FP32 like the other norms",
    "NonZero": "data-dependent output shape: supported since TensorRT 8.5 but blocks most fusions",
    "NonMaxSuppression": "data-dependent output; keep NMS in the gateway (it is there already)",
    "Loop": "control flow: supported with restrictions (no dynamic trip count in some versions)",
    "If": "control flow: both branches are built; avoid in exported graphs (trace with fixed flags)",
    "ScatterND": "supported, but reduction attributes other than 'none' are not in older versions",
    "GridSample": "supported since TensorRT 8.6 only for 4-D inputs",
    "Einsum": "only some equations are supported; rewrite as MatMul/Transpose before export",
}


def _antialiased_resize(node: onnx.NodeProto) -> bool:
    return node.op_type == "Resize" and any(attr.name == "antialias" and attr.i == 1 for attr in node.attribute)


# Node attributes TensorRT's ONNX parser rejects outright: a model holding one keeps the ONNX Runtime backend
# (the tensorrt step checks before it builds, so the failure is named instead of being a parser error).
TENSORRT_PARSER_LIMITS: dict[str, tuple[Callable[[onnx.NodeProto], bool], str]] = {
    "antialiased Resize": (
        _antialiased_resize,
        "Resize with antialias=1 (opset 18, torch's interpolate(..., antialias=True)) is not supported by the "
        "TensorRT ONNX parser",
    ),
}


class CardMismatch(ValueError):
    """The ONNX file and its model card disagree on a tensor's name, dtype or shape."""


@dataclass(frozen=True)
class OnnxTensor:
    """One graph input or output: ``dims`` keeps -1 for every symbolic or unknown axis."""

    name: str
    dtype: str  # card spelling, e.g. "float32"
    triton_type: str  # e.g. "TYPE_FP32"
    dims: tuple[int, ...]


@dataclass(frozen=True)
class OnnxSignature:
    inputs: tuple[OnnxTensor, ...]
    outputs: tuple[OnnxTensor, ...]
    ops: frozenset[str]

    @property
    def batch_dynamic(self) -> bool:
        """Every input and output has a dynamic leading axis, so Triton may batch along it."""
        return all(t.dims and t.dims[0] == -1 for t in (*self.inputs, *self.outputs))


def _tensor(value: onnx.ValueInfoProto) -> OnnxTensor:
    tensor_type = value.type.tensor_type
    if tensor_type.elem_type not in _DTYPES:
        raise CardMismatch(f"tensor {value.name}: ONNX element type {tensor_type.elem_type} is not supported")
    dtype, triton_type = _DTYPES[tensor_type.elem_type]
    dims = tuple(
        dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else -1 for dim in tensor_type.shape.dim
    )
    return OnnxTensor(value.name, dtype, triton_type, dims)


def read_signature(path: Path) -> OnnxSignature:
    """Inputs (minus initialisers listed as inputs), outputs and op types of an ONNX file."""
    model = onnx.load(str(path), load_external_data=False)
    initialisers = {init.name for init in model.graph.initializer}
    inputs = tuple(_tensor(v) for v in model.graph.input if v.name not in initialisers)
    outputs = tuple(_tensor(v) for v in model.graph.output)
    return OnnxSignature(inputs, outputs, frozenset(node.op_type for node in model.graph.node))


def check_against_card(card: ModelCard, signature: OnnxSignature) -> None:
    """Raise ``CardMismatch`` unless names, dtypes and dims (-1 = dynamic) agree exactly: the backends' own card
    contract, applied to the file before it is served."""
    from service.backends.contract import ServedTensor, check_contract
    from service.errors import ModelMismatch

    try:
        check_contract(
            card,
            [ServedTensor(t.name, t.dtype, t.dims) for t in signature.inputs],
            [ServedTensor(t.name, t.dtype, t.dims) for t in signature.outputs],
        )
    except ModelMismatch as error:
        raise CardMismatch(error.message) from None


def tensorrt_risks(signature: OnnxSignature) -> dict[str, str]:
    """The ops of this graph that TensorRT is known to struggle with, each with what we do about it."""
    return {op: TENSORRT_RISKS[op] for op in sorted(signature.ops) if op in TENSORRT_RISKS}


def _nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    """Every node of the graph, those of If/Loop bodies included."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            subgraphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
            for subgraph in subgraphs:
                yield from _nodes(subgraph)


def tensorrt_parser_limits(path: Path) -> list[str]:
    """The nodes of this ONNX file that TensorRT's parser cannot take, each with the reason (empty: none known)."""
    model = onnx.load(str(path), load_external_data=False)
    return [
        f"{node.op_type} node {node.name!r}: {reason}"
        for node in _nodes(model.graph)
        for check, reason in TENSORRT_PARSER_LIMITS.values()
        if check(node)
    ]
