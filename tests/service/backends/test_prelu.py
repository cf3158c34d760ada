"""service.backends.prelu: the depthwise rewrite of FaceMesh's PRelus leaves none of them and gives FaceMesh's
outputs on real faces to within 1e-3 pixels of the network as published; the MobileFaceNet quality and recognition
networks (slopes written as (C, 1, 1) by one exporter) keep their outputs too; a network without PRelu is left as
is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image

from service.backends.prelu import depthwise_prelu
from service.measures.networks import network_inputs
from service.runtime import Runtime
from service.settings import REPO_ROOT


def _session(model: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _prelus(model: bytes) -> int:
    return sum(node.op_type == "PRelu" for node in onnx.load_from_string(model).graph.node)


@pytest.mark.parametrize(
    ("network", "published_prelus", "kept_prelus", "tolerance"),
    [
        ("facemesh", 73, 0, 1e-3),  # pixels
        ("diffiqa_r64", 34, 1, 1e-4),  # raw quality; the one kept has a (1, 128) slope after the flatten
        ("fr_feature", 33, 0, 1e-4),  # embedding components
    ],
)
def test_the_rewrite_keeps_the_outputs_on_real_faces(
    samples: Path, data_dir: Path, network: str, published_prelus: int, kept_prelus: int, tolerance: float
) -> None:
    published = (REPO_ROOT / "models" / network / "model.onnx").read_bytes()
    rewritten = depthwise_prelu(published)
    assert (_prelus(published), _prelus(rewritten)) == (published_prelus, kept_prelus)

    runtime = Runtime.from_env(warmup=False)
    card = runtime.registry[network]
    photos = [samples / name for name in ("obama.jpg", "biden.jpg", "astronaut.png")]
    photos += sorted((data_dir / "lfw" / "images").glob("Ab*/*_0001.jpg"))[:5]
    crops = []
    for path in photos:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        face = max(runtime.detect(rgb), key=lambda found: found.area)
        crops.append(network_inputs(card, rgb, [face]).inputs[card.single_input()])
    runtime.shutdown()
    before, after = _session(published), _session(rewritten)
    name = card.single_input()
    for crop in crops:
        for old, new in zip(before.run(None, {name: crop}), after.run(None, {name: crop}), strict=True):
            assert np.abs(old - new).max() < tolerance


def test_a_network_without_prelu_is_left_as_it_is() -> None:
    emotion = (REPO_ROOT / "models" / "emotion" / "model.onnx").read_bytes()
    assert depthwise_prelu(emotion) is emotion
