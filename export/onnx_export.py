"""torch module -> ONNX with a dynamic batch axis, checked by onnx.checker and by parity with PyTorch.

``export_onnx`` is the one entry point (the training code calls it for trained models)::

    report = export_onnx(model, torch.rand(1, 3, 112, 112), "models/ifqa/model.onnx", ["image"], ["quality"])
    print(report.max_abs_diff)

It uses the dynamo exporter (opset >= 18) with the weights inside the file (``external_data=False``: Triton
and the gateway load one self-contained file). Parity runs onnxruntime on a batch size different from the
export example's, so a batch axis that was silently specialised fails here rather than in Triton.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
import onnxruntime as ort

from export.onnx_io import read_signature, tensorrt_risks

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

MIN_OPSET = 18


class ParityError(RuntimeError):
    """onnxruntime's outputs differ from PyTorch's by more than the tolerance."""


@dataclass
class ExportReport:
    """What was written and how closely it matches PyTorch."""

    path: Path
    max_abs_diff: float
    parity_batch: int
    per_output: dict[str, float] = field(default_factory=dict)
    tensorrt_risks: dict[str, str] = field(default_factory=dict)


def _as_tuple(example: torch.Tensor | tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return example if isinstance(example, tuple) else (example,)


def _outputs(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> list[np.ndarray]:
    import torch

    with torch.no_grad():
        result = module(*inputs)
    results = result if isinstance(result, tuple | list) else (result,)
    return [tensor.detach().cpu().numpy() for tensor in results]


def strip_build_metadata(path: str | Path) -> int:
    """Remove the exporter's per-node and per-tensor metadata (stack traces with the exporting machine's absolute
    paths, FX node names, class hierarchies) from an ONNX file in place; weights and graph are untouched. Returns
    how many entries were removed. A shipped network should not carry the build host's file system."""
    model = onnx.load(str(path))
    removed = 0
    for holder in (model, model.graph):  # e.g. tf2onnx's "converted from /tmp/.../model.json"
        if holder.doc_string:
            holder.doc_string = ""
            removed += 1
    graphs = [model.graph, *(function for function in model.functions)]
    for graph in graphs:
        nodes = list(graph.node)
        values = [*getattr(graph, "input", []), *getattr(graph, "output", []), *getattr(graph, "value_info", [])]
        for item in [*nodes, *values]:
            removed += len(item.metadata_props)
            del item.metadata_props[:]
        for node in nodes:
            if node.doc_string:
                node.doc_string = ""
                removed += 1
    if removed:
        onnx.save(model, str(path))
    return removed


def export_onnx(
    module: torch.nn.Module,
    example: torch.Tensor | tuple[torch.Tensor, ...],
    path: str | Path,
    input_names: list[str],
    output_names: list[str],
    *,
    opset: int = MIN_OPSET,
    atol: float = 1e-4,
) -> ExportReport:
    """Export ``module`` (eval mode) to ``path`` with axis 0 of every input and output dynamic.

    ``example``: one tensor or a tuple (one per ``input_names``), batch on axis 0, values in the model's
    real input range. Raises ``ParityError`` when onnxruntime and PyTorch differ by more than ``atol``.
    """
    import torch

    if opset < MIN_OPSET:
        raise ValueError(f"the dynamo exporter needs opset >= {MIN_OPSET}, got {opset}")
    inputs = _as_tuple(example)
    if len(inputs) != len(input_names):
        raise ValueError(f"{len(inputs)} example tensors for {len(input_names)} input names")
    if inputs[0].shape[0] == 1:  # a batch of 1 lets the exporter specialise the axis to the constant 1
        inputs = tuple(torch.cat([tensor, tensor]) for tensor in inputs)
    module = module.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = torch.export.Dim("batch")
    torch.onnx.export(
        module,
        inputs,
        str(path),
        dynamo=True,
        opset_version=opset,
        input_names=input_names,
        output_names=output_names,
        dynamic_shapes=tuple({0: batch} for _ in inputs),
        external_data=False,
        verbose=False,
    )
    strip_build_metadata(path)
    onnx.checker.check_model(str(path), full_check=True)
    signature = read_signature(path)
    if not signature.batch_dynamic:
        raise ValueError(f"{path}: the exported graph has a fixed batch axis: {signature}")

    # Parity on batch n+1 (the export saw n): the example rows plus a scaled copy of the first row.
    parity = tuple(torch.cat([tensor, tensor[:1] * 0.5]) for tensor in inputs)
    expected = _outputs(module, parity)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(output_names, {name: tensor.numpy() for name, tensor in zip(input_names, parity, strict=True)})
    per_output = {
        name: float(np.max(np.abs(want.astype(np.float64) - have.astype(np.float64))))
        for name, want, have in zip(output_names, expected, got, strict=True)
    }
    worst = max(per_output.values())
    report = ExportReport(path, worst, int(parity[0].shape[0]), per_output, tensorrt_risks(signature))
    log.info("%s: max |onnxruntime - torch| = %.3g on batch %d", path, worst, report.parity_batch)
    if not worst <= atol:  # also catches NaN
        raise ParityError(f"{path}: max abs diff {worst:.3g} exceeds {atol:g} ({per_output})")
    return report
