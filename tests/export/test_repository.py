"""The Triton repository builder: configs read from the ONNX files, cross-checked against the cards."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from export.onnx_io import CardMismatch, read_signature
from export.plan_sidecar import PlanSidecar, sha256_of
from export.repository import PlanRefused, build_repository, parse_config
from export.settings import ExportSettings
from export.tensorrt import EngineOptions, profile_for, trtexec_command
from service.registry import Registry
from service.settings import REPO_ROOT, Settings

NETWORKS = ["centerface", "fr_feature"]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(Settings().models_dir)


def _models_copy(tmp_path: Path, registry: Registry, edit: dict | None = None) -> Path:
    """Cards of the detector and fr_feature (optionally one edited) with links to their ONNX files."""
    models = tmp_path / "models"
    for name in NETWORKS:
        (models / name).mkdir(parents=True)
        card = yaml.safe_load((registry.models_dir / name / "card.yaml").read_text())
        if edit and name in edit:
            edit[name](card)
        (models / name / "card.yaml").write_text(yaml.safe_dump(card))
        os.symlink(registry.file_of(name), models / name / "model.onnx")
    return models


def test_builds_one_folder_per_network_from_the_onnx(tmp_path: Path, registry: Registry) -> None:
    settings = ExportSettings(max_batch_size=32, preferred_batch_sizes=[8, 32, 128], max_queue_delay_us=1500)
    built = build_repository(settings, out_dir=tmp_path, names=NETWORKS)
    assert [model.name for model in built] == NETWORKS
    for name in NETWORKS:
        config = parse_config((tmp_path / name / "config.pbtxt").read_text())
        signature = read_signature(registry.file_of(name))
        assert config.name == name and config.platform == "onnxruntime_onnx"
        assert config.max_batch_size == 32
        assert list(config.dynamic_batching.preferred_batch_size) == [8, 32]  # 128 > max_batch_size dropped
        assert config.dynamic_batching.max_queue_delay_microseconds == 1500
        assert config.instance_group[0].kind == config.instance_group[0].KIND_GPU
        assert config.parameters["card_version"].string_value == registry[name].version
        for declared, tensor in zip(config.input, signature.inputs, strict=True):
            assert declared.name == tensor.name and list(declared.dims) == list(tensor.dims[1:])
        assert [o.name for o in config.output] == [t.name for t in signature.outputs]
        assert (tmp_path / name / "1" / "model.onnx").samefile(registry.file_of(name))
        assert (tmp_path / name / "card.yaml").read_text() == (registry.models_dir / name / "card.yaml").read_text()
    detector = parse_config((tmp_path / "centerface" / "config.pbtxt").read_text())
    assert list(detector.input[0].dims) == [3, -1, -1]
    assert {o.name: list(o.dims) for o in detector.output}["540"] == [10, -1, -1]


def test_committed_configs_are_what_the_builder_writes(tmp_path: Path) -> None:
    """Every card whose network file exists has an up-to-date committed folder in model_repository/."""
    committed = REPO_ROOT / "model_repository"
    built = build_repository(ExportSettings(), out_dir=tmp_path)
    assert {model.name for model in built} >= set(NETWORKS)
    for model in built:
        for name in ("config.pbtxt", "card.yaml"):  # the card too: a recalibrated threshold must reach Triton's copy
            assert (committed / model.name / name).read_text() == (model.config_path.parent / name).read_text(), (
                f"model_repository/{model.name}/{name} is stale: run `python -m export build-repository`"
            )


def test_cpu_instances_and_python_twin(tmp_path: Path) -> None:
    build_repository(ExportSettings(instance_kind="KIND_CPU"), out_dir=tmp_path / "cpu", names=["fr_feature"])
    config = parse_config((tmp_path / "cpu" / "fr_feature" / "config.pbtxt").read_text())
    assert config.instance_group[0].kind == config.instance_group[0].KIND_CPU

    build_repository(ExportSettings(), out_dir=tmp_path / "twin", names=["fr_feature"], python_twin=True)
    twin = parse_config((tmp_path / "twin" / "fr_feature" / "config.pbtxt").read_text())
    assert twin.backend == "python" and not twin.platform
    assert (
        twin.max_batch_size
        == parse_config((tmp_path / "cpu" / "fr_feature" / "config.pbtxt").read_text()).max_batch_size
    )
    assert (tmp_path / "twin" / "fr_feature" / "1" / "model.py").read_text().startswith('"""Triton Python-backend')


# The Triton the plans are for, as FIQA_EXPORT_TRT_TARGET_* would say (no TensorRT or GPU here to ask).
TARGET = {"trt_target_version": "10.5.0.18", "trt_target_compute_capability": "8.9"}


def _plan(repo: Path, registry: Registry, **sidecar) -> Path:
    """A placeholder plan (Triton never loads it here) with a sidecar that suits TARGET unless ``sidecar`` says
    otherwise; ``sidecar=None`` leaves it without one."""
    plan = repo / "fr_feature" / "1" / "model.plan"
    plan.write_bytes(b"placeholder, never loaded")
    facts = {
        "tensorrt_version": "10.5.0",
        "compute_capability": "8.9",
        "precision": "fp16",
        "profile": {"input": [[1, 3, 112, 112], [16, 3, 112, 112], [64, 3, 112, 112]]},
        "onnx_sha256": sha256_of(registry.file_of("fr_feature")),
        **sidecar,
    }
    PlanSidecar(**facts).write(plan)
    return plan


def test_an_engine_switches_the_model_to_tensorrt_and_keeps_the_onnx(tmp_path: Path, registry: Registry) -> None:
    settings = ExportSettings(**TARGET)
    build_repository(settings, out_dir=tmp_path, names=["fr_feature"])
    _plan(tmp_path, registry)
    (built,) = build_repository(settings, out_dir=tmp_path, names=["fr_feature"], strict=True)
    config = parse_config(built.config_path.read_text())
    assert built.platform == config.platform == "tensorrt_plan" and built.refused_plan == ()
    assert config.default_model_filename == "model.plan"
    assert (tmp_path / "fr_feature" / "1" / "model.onnx").samefile(registry.file_of("fr_feature")), "the fallback"


@pytest.mark.parametrize(
    ("sidecar", "target", "reason"),
    [
        ({"tensorrt_version": "10.3.0"}, TARGET, "built with TensorRT 10.3.0, served by 10.5.0.18"),
        ({"compute_capability": "8.6"}, TARGET, "built for compute capability 8.6, served on 8.9"),
        ({"onnx_sha256": "0" * 64}, TARGET, "another ONNX file"),
        ({"profile": {"input": [[1, 3, 112, 112]] * 2 + [[32, 3, 112, 112]]}}, TARGET, "stops at batch 32 < Triton"),
        ({}, {}, "FIQA_EXPORT_TRT_TARGET_VERSION"),
    ],
)
def test_a_plan_that_does_not_suit_the_serving_triton_is_refused(
    tmp_path: Path, registry: Registry, sidecar: dict, target: dict, reason: str
) -> None:
    """The model is served from the ONNX file beside the plan, with the reason; --strict makes it an error."""
    settings = ExportSettings(max_batch_size=64, **target)
    build_repository(settings, out_dir=tmp_path, names=["fr_feature"])
    _plan(tmp_path, registry, **sidecar)
    (built,) = build_repository(settings, out_dir=tmp_path, names=["fr_feature"])
    config = parse_config(built.config_path.read_text())
    assert built.platform == config.platform == "onnxruntime_onnx"
    assert config.default_model_filename == "model.onnx" and (tmp_path / "fr_feature" / "1" / "model.onnx").exists()
    assert any(reason in refusal for refusal in built.refused_plan), built.refused_plan
    with pytest.raises(PlanRefused, match="fr_feature"):
        build_repository(settings, out_dir=tmp_path, names=["fr_feature"], strict=True)


def test_a_plan_without_sidecar_is_refused(tmp_path: Path) -> None:
    settings = ExportSettings(**TARGET)
    build_repository(settings, out_dir=tmp_path, names=["fr_feature"])
    (tmp_path / "fr_feature" / "1" / "model.plan").write_bytes(b"placeholder, never loaded")
    (built,) = build_repository(settings, out_dir=tmp_path, names=["fr_feature"])
    assert built.platform == "onnxruntime_onnx" and "no sidecar" in built.refused_plan[0]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda card: card["inputs"][0].update(shape=[-1, 3, 128, 128]), "shape"),
        (lambda card: card["outputs"][0].update(name="embedding"), "outputs"),
        (lambda card: card["inputs"][0].update(dtype="float16"), "float32"),
    ],
)
def test_card_and_onnx_disagreeing_is_an_error(tmp_path: Path, registry: Registry, edit, message: str) -> None:
    models = _models_copy(tmp_path, registry, {"fr_feature": edit})
    with pytest.raises(CardMismatch, match=message):
        build_repository(ExportSettings(models_dir=models), out_dir=tmp_path / "repo")
    done = subprocess.run(
        [sys.executable, "-m", "export", "build-repository", "--out", str(tmp_path / "cli")],
        env={**os.environ, "FIQA_EXPORT_MODELS_DIR": str(models)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "fr_feature" in done.stderr


def test_removed_cards_are_pruned_and_missing_files_skipped(tmp_path: Path, registry: Registry) -> None:
    models = _models_copy(tmp_path, registry)
    repo = tmp_path / "repo"
    build_repository(ExportSettings(models_dir=models), out_dir=repo)
    assert sorted(p.name for p in repo.iterdir()) == NETWORKS
    shutil.rmtree(models / "centerface")
    (models / "fr_feature" / "model.onnx").unlink()
    assert build_repository(ExportSettings(models_dir=models), out_dir=repo) == []
    assert sorted(p.name for p in repo.iterdir()) == ["fr_feature"]  # its card remains, its folder too
    with pytest.raises(FileNotFoundError):
        build_repository(ExportSettings(models_dir=models), out_dir=repo, strict=True)


def test_tensorrt_step_refuses_without_tensorrt(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "export", "tensorrt", "--names", "fr_feature", "--out", str(tmp_path)],
        env={**os.environ, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 3
    assert "TensorRT is not installed" in done.stderr
    assert not list(tmp_path.rglob("*.plan*"))


def test_tensorrt_profile_and_trtexec_command(registry: Registry) -> None:
    settings = EngineOptions(min_batch=1, opt_batch=8, max_batch=64, precision="fp16")
    detector = profile_for(read_signature(registry.file_of("centerface")), settings)
    assert detector.shapes["input.1"] == ((1, 3, 32, 32), (8, 3, 640, 640), (64, 3, 640, 640))
    embedder = profile_for(read_signature(registry.file_of("fr_feature")), settings)
    assert embedder.shapes["input"] == ((1, 3, 112, 112), (8, 3, 112, 112), (64, 3, 112, 112))
    command = trtexec_command(
        "trtexec", Path("m.onnx"), Path("m.plan"), embedder, "fp16", 1024, fp32_layers=["norm1", "norm2"]
    )
    assert "--minShapes=input:1x3x112x112" in command and "--maxShapes=input:64x3x112x112" in command
    assert "--fp16" in command and "--layerPrecisions=norm1:fp32,norm2:fp32" in command
    assert "--precisionConstraints=obey" in command
    assert "--fp16" not in trtexec_command("trtexec", Path("m.onnx"), Path("m.plan"), embedder, "fp32", 1024)
