"""service.backends.prelu: the depthwise rewrite of FaceMesh's PRelus leaves none of them and gives FaceMesh's
outputs on real faces to within 1e-3 pixels of the network as published; a network without PRelu is left as is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

from service.backends.prelu import depthwise_prelu
from service.measures.networks import network_inputs
from service.runtime import Runtime
from service.settings import REPO_ROOT

FACEMESH = REPO_ROOT / "models" / "facemesh" / "model.onnx"


def _session(model: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def test_the_rewrite_keeps_facemesh_outputs_on_real_faces(samples: Path, data_dir: Path) -> None:
    published = FACEMESH.read_bytes()
    rewritten = depthwise_prelu(published)
    nodes = onnx.load_from_string(rewritten).graph.node
    assert not [node for node in nodes if node.op_type == "PRelu"]
    assert sum(node.op_type == "PRelu" for node in onnx.load_from_string(published).graph.node) == 73

    runtime = Runtime.from_env(warmup=False)
    card = runtime.registry["facemesh"]
    photos = [samples / name for name in ("obama.jpg", "biden.jpg", "astronaut.png")]
    photos += sorted((data_dir / "lfw" / "images").glob("Ab*/*_0001.jpg"))[:5]
    crops = []
    for path in photos:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        face = max(runtime.detect(rgb), key=lambda found: found.area)
        crops.append(network_inputs(card, rgb, [face]).inputs[card.single_input()])
    runtime.shutdown()
    before, after = _session(published), _session(rewritten)
    for crop in crops:
        for old, new in zip(before.run(None, {"input": crop}), after.run(None, {"input": crop}), strict=True):
            assert np.abs(old - new).max() < 1e-3


def test_a_network_without_prelu_is_left_as_it_is() -> None:
    emotion = (REPO_ROOT / "models" / "emotion" / "model.onnx").read_bytes()
    assert depthwise_prelu(emotion) is emotion
