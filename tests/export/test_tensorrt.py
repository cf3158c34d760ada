"""The TensorRT step without TensorRT: a stand-in ``trtexec`` on PATH (it writes the engine file it is asked for and
logs its version and device the way trtexec does) drives the real code path, so that what is tested is ours: the
parser-limit check before a build, per-model builds that go on past a failure, the sidecar, the repository switching
only to plans that suit the serving Triton, and the standalone module NGC's Python 3.10 container runs."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from export.onnx_io import tensorrt_parser_limits
from export.plan_sidecar import PlanSidecar, sha256_of
from export.repository import build_repository, parse_config
from export.settings import ExportSettings
from export.tensorrt import EngineOptions
from service.registry import Registry
from service.settings import REPO_ROOT, Settings

FAKE_TRTEXEC = """\
#!{python}
# Stand-in for trtexec: refuses the graphs named in FAKE_TRTEXEC_FAIL, otherwise writes --saveEngine.
import os, sys
args = dict(arg[2:].split("=", 1) for arg in sys.argv[1:] if "=" in arg)
print("[I] TensorRT version: 10.5.0")
print("[I] Compute Capability: 8.9")
if any(name and name in args["onnx"] for name in os.environ.get("FAKE_TRTEXEC_FAIL", "").split(",")):
    print("[E] ModelImporter: unsupported node", file=sys.stderr)
    sys.exit(1)
with open(args["saveEngine"], "wb") as plan:
    plan.write(b"engine of " + args["onnx"].encode())
"""
TARGET_ENV = {"FIQA_EXPORT_TRT_TARGET_VERSION": "10.5.0.18", "FIQA_EXPORT_TRT_TARGET_COMPUTE_CAPABILITY": "8.9"}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(Settings().models_dir)


@pytest.fixture
def trtexec_path(tmp_path: Path) -> str:
    """A PATH whose only trtexec is the stand-in (and no nvidia-smi)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    trtexec = folder / "trtexec"
    trtexec.write_text(FAKE_TRTEXEC.format(python=sys.executable))
    trtexec.chmod(0o755)
    return f"{folder}:/usr/bin:/bin"


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )


def test_antialiased_resize_is_a_parser_limit(registry: Registry) -> None:
    (limit,) = tensorrt_parser_limits(registry.file_of("diffiqa_r64"))
    assert "Resize" in limit and "antialias=1" in limit
    assert tensorrt_parser_limits(registry.file_of("ifqa")) == [], "IFQA's plain bilinear Resize is supported"
    assert tensorrt_parser_limits(registry.file_of("fr_feature")) == []


def test_engines_per_model_go_on_past_a_failure(tmp_path: Path, trtexec_path: str, registry: Registry) -> None:
    """centerface fails to build, diffiqa_r64 is kept on ONNX Runtime unbuilt, fr_feature still gets its engine,
    its sidecar, and (the sidecar suiting the target) the tensorrt_plan platform; the exit status says one failed."""
    repo = tmp_path / "repo"
    names = "centerface,diffiqa_r64,fr_feature"
    env = {"PATH": trtexec_path, "FAKE_TRTEXEC_FAIL": "centerface", **TARGET_ENV}
    done = _run("-m", "export", "tensorrt", "--names", names, "--out", str(repo), "--max-batch", "64", env=env)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "centerface: error: no engine built: trtexec failed (1)" in done.stderr
    assert "diffiqa_r64: kept on onnxruntime_onnx: Resize node" in done.stdout
    assert "fr_feature: platform tensorrt_plan" in done.stdout
    assert "1 engine(s) built, 1 model(s) kept on ONNX Runtime (parser limits), 1 failed" in done.stdout
    assert sorted(path.parent.parent.name for path in repo.rglob("model.plan")) == ["fr_feature"]
    assert not list(repo.rglob("*.partial"))
    plan = repo / "fr_feature" / "1" / "model.plan"
    sidecar = PlanSidecar.read(plan)
    assert sidecar == PlanSidecar(
        tensorrt_version="10.5.0",
        compute_capability="8.9",
        precision="fp16",
        profile={"input": [[1, 3, 112, 112], [16, 3, 112, 112], [64, 3, 112, 112]]},
        onnx_sha256=sha256_of(registry.file_of("fr_feature")),
    )
    config = parse_config((repo / "fr_feature" / "config.pbtxt").read_text())
    assert config.platform == "tensorrt_plan" and (repo / "fr_feature" / "1" / "model.onnx").exists()
    # Served by another GPU: the same repository rebuilt for it refuses the plan and serves the ONNX file.
    other_gpu = ExportSettings(repository_dir=repo, trt_target_version="10.5.0", trt_target_compute_capability="9.0")
    (built,) = build_repository(other_gpu, names=["fr_feature"])
    assert built.platform == "onnxruntime_onnx" and "served on 9.0" in built.refused_plan[-1]


def test_standalone_module_needs_neither_the_gateway_nor_python_311(tmp_path: Path, trtexec_path: str) -> None:
    """`python3 -m export.tensorrt REPOSITORY` as NGC's container runs it: the gateway's packages blocked, it
    builds beside each model.onnx; every export module it loads is held to Python 3.10 by ruff's per-file target."""
    repo = tmp_path / "repo"
    build_repository(ExportSettings(), out_dir=repo, names=["diffiqa_r64", "fr_feature"])
    script = textwrap.dedent(f"""
        import json, sys
        for blocked in ("service", "pydantic", "pydantic_settings", "tritonclient", "fiqa"):
            sys.modules[blocked] = None  # importing any of them now fails
        from export import tensorrt
        code = tensorrt.main([{str(repo)!r}, "--precision", "fp32"])
        print(json.dumps(sorted(name for name in sys.modules if name == "export" or name.startswith("export."))))
        sys.exit(code)
    """)
    done = _run("-c", script, env={"PATH": trtexec_path})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 engine(s) built, 1 model(s) kept on ONNX Runtime" in done.stdout
    assert (repo / "fr_feature" / "1" / "model.plan").exists() and not (
        repo / "diffiqa_r64" / "1" / "model.plan"
    ).exists()
    assert PlanSidecar.read(repo / "fr_feature" / "1" / "model.plan").precision == "fp32"
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    held = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["per-file-target-version"]
    files = {("export/__init__.py" if name == "export" else name.replace(".", "/") + ".py") for name in loaded}
    py310 = {path for path, version in held.items() if version == "py310"}
    assert files <= py310, files
    for path in py310:  # Python's own parser with the 3.10 grammar, besides ruff's check
        ast.parse((REPO_ROOT / path).read_text(), filename=path, feature_version=(3, 10))


def test_without_tensorrt_nothing_is_written(tmp_path: Path) -> None:
    done = _run("-m", "export.tensorrt", str(tmp_path), env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 3 and "TensorRT is not installed" in done.stderr
    assert not list(tmp_path.iterdir())


def test_engine_defaults_follow_the_gateway_batch_limit() -> None:
    """The standalone module has no gateway settings to read: its default max batch must be the gateway's."""
    assert EngineOptions().max_batch == Settings().max_batch_size == ExportSettings().engine_options().max_batch
