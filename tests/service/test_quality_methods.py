"""service.quality: the card's ``method`` picks the class, the card gives the rest. A new regression network, with one
output or with several (a CR-FIQA-style export: embedding and quality), is served by adding its folder under the models
directory — no code — and a card the gateway cannot serve is left out unless it is a default model."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml
from onnx import TensorProto, helper, numpy_helper

from service.quality import METHODS, build_methods
from service.quality.diffiqa import DifFIQAPerturbation
from service.quality.ifqa import IFQAMap
from service.quality.regressor import Regression
from service.registry import CardError, ModelCard, Registry, sha256_of
from service.settings import REPO_ROOT

MODELS = REPO_ROOT / "models"
EMBEDDING = 8


def _graph(two_outputs: bool) -> bytes:
    """(N, 3, 112, 112) -> quality (N, 1) = mean of the input; with ``two_outputs`` also an embedding (N, 8) first."""
    nodes = [helper.make_node("ReduceMean", ["input", "axes"], ["quality"], keepdims=0)]
    nodes.append(helper.make_node("Unsqueeze", ["quality", "one"], ["quality_col"]))
    outputs = [helper.make_tensor_value_info("quality_col", TensorProto.FLOAT, ["N", 1])]
    initialisers = [
        numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes"),
        numpy_helper.from_array(np.array([1], np.int64), "one"),
    ]
    if two_outputs:
        nodes += [
            helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "project"], ["embedding"]),
        ]
        weights = np.random.default_rng(0).standard_normal((3, EMBEDDING)).astype(np.float32)
        initialisers.append(numpy_helper.from_array(weights, "project"))
        outputs.insert(0, helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", EMBEDDING]))
    graph = helper.make_graph(
        nodes,
        "quality_heads",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 112, 112])],
        outputs,
        initialisers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _card(name: str, data: bytes, two_outputs: bool) -> dict:
    outputs = [{"name": "quality_col", "shape": [-1, 1]}]
    if two_outputs:
        outputs = [{"name": "embedding", "shape": [-1, EMBEDDING]}, {**outputs[0], "role": "quality"}]
    return {
        "name": name,
        "version": "test",
        "kind": "quality",
        "method": "regression",
        "file": "model.onnx",
        "sha256": sha256_of(data),
        "inputs": [{"name": "input", "shape": [-1, 3, 112, 112]}],
        "outputs": outputs,
        "preprocess": {"mean": 0.0, "scale": 1 / 255},
        "score_mapping": {"raw_low": 0.0, "raw_high": 1.0},
        "threshold": {"value": 10.0, "source": "test"},
    }


def _add_model(models: Path, card: dict, data: bytes | None = None) -> None:
    folder = models / card["name"]
    folder.mkdir()
    (folder / "card.yaml").write_text(yaml.safe_dump(card))
    if data is not None:
        (folder / "model.onnx").write_bytes(data)


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """The shipped models (linked) plus two new regression networks: one output, and embedding + quality."""
    root = tmp_path / "models"
    root.mkdir()
    for folder in MODELS.iterdir():
        if (folder / "card.yaml").exists():
            (root / folder.name).symlink_to(folder, target_is_directory=True)
    for name, two in (("one_head", False), ("two_heads", True)):
        data = _graph(two)
        _add_model(root, _card(name, data, two), data)
    return root


def test_every_shipped_method_is_registered_by_its_card_name() -> None:
    assert {"regression": Regression, "diffiqa_perturbation": DifFIQAPerturbation, "ifqa_map": IFQAMap} == METHODS
    registry = Registry(MODELS)
    assert set(build_methods(registry, [])) == set(registry.quality_methods())


def test_new_cards_are_served_without_code(models: Path, make_client, samples: Path) -> None:
    with make_client(models_dir=models, warmup=False) as client:
        response = client.post(
            "/score",
            files={"images": ("obama.jpg", (samples / "obama.jpg").read_bytes(), "image/jpeg")},
            data={"options": '{"models": ["two_heads", "one_head"]}'},
        )
        listed = {model["name"] for model in client.get("/v1/models").json()["models"]}
    assert response.status_code == 200, response.text
    (face,) = response.json()["images"][0]["faces"]
    raw = face["quality"]["raw"]
    # both networks compute the mean of the same crop on 0..1; the two-output one answers from its quality head
    assert 0.05 < raw["two_heads"] < 0.95
    assert raw["one_head"] == pytest.approx(raw["two_heads"], rel=1e-5)
    assert face["quality"]["model"] == "two_heads"
    assert face["quality"]["score"] == pytest.approx(100 * raw["two_heads"], abs=1e-3)
    assert {"one_head", "two_heads"} <= listed


def test_a_multi_output_card_must_name_its_quality_output(models: Path) -> None:
    card = yaml.safe_load((models / "two_heads" / "card.yaml").read_text())
    card["outputs"][1].pop("role")
    with pytest.raises(CardError, match="role 'quality'"):
        Regression(ModelCard.model_validate(card), Registry(models))


def test_parameters_are_checked_against_the_method() -> None:
    registry = Registry(MODELS)
    card = registry["diffiqa"]
    with pytest.raises(CardError, match="repeats"):
        DifFIQAPerturbation(card.model_copy(update={"parameters": {"timestep": 10, "seed": 0}}), registry)
    with pytest.raises(CardError, match="unknown"):
        Regression(registry["diffiqa_r"].model_copy(update={"parameters": {"unknown": 1}}), registry)


def test_an_optional_card_the_gateway_cannot_serve_is_left_out(models: Path, caplog) -> None:
    _add_model(models, {**_card("future", b"", False), "method": "not_a_method_yet", "sha256": None})
    registry = Registry(models)
    with caplog.at_level(logging.WARNING, logger="service.quality"):
        methods = build_methods(registry, ["diffiqa_r64"])
    assert "future" not in methods and {"one_head", "two_heads", "diffiqa_r64"} <= set(methods)
    assert "future" in caplog.text and "not_a_method_yet" in caplog.text
    with pytest.raises(CardError, match="not_a_method_yet"):
        build_methods(registry, ["future"])


def test_rows_per_face_is_what_prepare_makes() -> None:
    registry = Registry(MODELS)
    crops = np.zeros((3, 112, 112, 3), dtype=np.uint8)
    for name, method in build_methods(registry, []).items():
        made = {network: next(iter(t.values())).shape[0] for network, t in method.prepare(crops).items()}
        assert made == {network: 3 * rows for network, rows in method.rows_per_face().items()}, name
