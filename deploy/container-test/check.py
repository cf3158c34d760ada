"""`make container-test`: build the gateway image for real, run it, and check it as a client would.

Docker Hub cannot be reached where CI runs, so the official base images are replaced by local ones: a
debootstrapped bookworm root file system (imported once), a Python 3.11 image on it (base.Dockerfile) that the
project's Dockerfile takes through ``PYTHON_IMAGE``, and a Prometheus image from Debian's package
(prometheus.Dockerfile). Then:

1. the gateway image alone: ``/readyz``, one ``/score`` of a real face, non-root, no torch, no checkpoints or
   PNGs, its size;
2. the Triton image's model repository (the Dockerfile's repository stage, copied into the ``triton`` stage, here
   built on the local base since the NGC image cannot be pulled): every model of model_repository/ with its
   config (identical to the committed one), its card and its ONNX file (the card's checksum), and an
   unprivileged user;
3. gateway + Prometheus through the real docker-compose.yml (the embedded profile) plus compose.override.yml,
   which swaps only the images: Prometheus reports the gateway target up and holds its ``/score`` latency
   histogram.

Images are kept between runs (docker's layer cache makes a warm run quick); containers and volumes are removed.
Needs root (apt-get, dockerd) and ../shared/data/samples (or FIQA_SHARED_DATA) for the face photo.
Standard library only: it runs before, and apart from, the project's virtual environment.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SHARED_DATA = Path(os.environ.get("FIQA_SHARED_DATA", REPO.parent / "shared" / "data"))
FACE = SHARED_DATA / "samples" / "obama.jpg"
LOCAL_CA = Path("/usr/local/share/ca-certificates")
DEBIAN_MIRROR = "http://deb.debian.org/debian"

ROOTFS_IMAGE = "fiqa-ctest/rootfs:bookworm"
BASE_IMAGE = "fiqa-ctest/python:3.11-bookworm"
PROMETHEUS_IMAGE = "fiqa-ctest/prometheus:bookworm"
# One gateway tag per checkout and one name per run: checkouts sharing a Docker engine do not test each other's.
CHECKOUT = hashlib.sha256(str(REPO).encode()).hexdigest()[:12]
GATEWAY_IMAGE = f"fiqa-ctest/gateway:{CHECKOUT}"
# The Dockerfile's builder stage, tagged so that its layers (the docker cache of the next run) are never untagged.
BUILDER_IMAGE = f"fiqa-ctest/gateway-builder:{CHECKOUT}"
# The Dockerfile's triton stage on the local base (the legacy builder builds every stage before its target, so the
# gateway's build needs the stand-in too).
TRITON_IMAGE = f"fiqa-ctest/triton:{CHECKOUT}"
TRITON_USER = "1000:1000"
GATEWAY_CONTAINER = f"fiqa-ctest-gateway-{os.getpid()}"
COMPOSE_PROJECT = f"fiqa-ctest-{os.getpid()}"
GATEWAY_UID = "10001"
READY_TIMEOUT_S = 180
SCRAPE_TIMEOUT_S = 120


class CheckFailed(Exception):
    """A client-visible check did not hold."""


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    """Print how long each step took: CI's time limit is shared with the rest of `.ci/run`."""
    print(f"--- {name}", flush=True)
    start = time.monotonic()
    try:
        yield
    finally:
        print(f"--- {name}: {time.monotonic() - start:.1f} s", flush=True)


def run(*args: str | Path, env: dict[str, str] | None = None, capture: bool = False) -> str:
    """Run a command, failing with its output; returns stdout when captured."""
    done = subprocess.run(
        [str(arg) for arg in args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE if capture else None,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise CheckFailed(f"{' '.join(map(str, args))} exited with {done.returncode}")
    return done.stdout or ""


def succeeds(*args: str) -> bool:
    return subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode == 0


def ensure_tools() -> None:
    """Debian's docker.io, debootstrap and docker-compose, installed only when missing."""
    packages = {"dockerd": "docker.io", "debootstrap": "debootstrap", "docker-compose": "docker-compose"}
    missing = [package for binary, package in packages.items() if shutil.which(binary) is None]
    if missing:
        apt = {"DEBIAN_FRONTEND": "noninteractive"}
        run("apt-get", "update", "-q", env=apt)
        run("apt-get", "install", "-y", "-q", "--no-install-recommends", *missing, env=apt)


# pid file -> the process name it must name for the daemon to be running.
DAEMON_PID_FILES = {
    Path("/var/run/docker.pid"): "dockerd",
    Path("/var/run/docker/containerd/containerd.pid"): "containerd",
}
DAEMON_TIMEOUT_S = 120


def remove_stale_pid_files(pid_files: dict[Path, str] = DAEMON_PID_FILES, proc: Path = Path("/proc")) -> list[Path]:
    """Delete pid files whose process is gone: dockerd refuses to start beside one ("pid file found").

    A machine restored from a snapshot taken while dockerd ran keeps them; a pid reused by another program
    does not count as the daemon. Returns the files removed.
    """
    removed = []
    for pid_file, name in pid_files.items():
        try:
            pid = pid_file.read_text().strip()
        except FileNotFoundError:
            continue
        try:
            running = (proc / pid / "comm").read_text().strip() == name if pid.isdigit() else False
        except OSError:
            running = False
        if not running:
            pid_file.unlink(missing_ok=True)
            removed.append(pid_file)
    return removed


def ensure_daemon() -> None:
    """Start dockerd in the background unless one answers; it is left running for later runs."""
    if succeeds("docker", "info"):
        return
    for pid_file in remove_stale_pid_files():
        print(f"removed the stale {pid_file}", flush=True)
    log = Path(tempfile.gettempdir()) / "fiqa-ctest-dockerd.log"
    start = log.stat().st_size if log.exists() else 0
    with log.open("ab") as out:
        daemon = subprocess.Popen(["dockerd"], stdout=out, stderr=out, start_new_session=True)

    def answers() -> bool:
        if daemon.poll() is not None:
            raise CheckFailed(f"dockerd exited with {daemon.returncode}")
        return succeeds("docker", "info")

    try:
        wait_for(answers, DAEMON_TIMEOUT_S, f"dockerd did not answer within {DAEMON_TIMEOUT_S} s")
    except CheckFailed as failure:
        raise CheckFailed(f"{failure}\n--- the end of {log}:\n{log_since(log, start)}") from None


def log_since(log: Path, offset: int, lines: int = 30) -> str:
    """The last lines this run's daemon wrote, so that a CI log shows why it did not start."""
    with log.open("rb") as text:
        text.seek(offset)
        return "\n".join(text.read().decode(errors="replace").splitlines()[-lines:])


def wait_for(probe: Callable[[], bool], timeout_s: float, failure: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            raise CheckFailed(failure)
        time.sleep(1)


def image_exists(name: str) -> bool:
    return succeeds("docker", "image", "inspect", name)


def image_id(name: str) -> str:
    done = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", name], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ""


def build(tag: str, context: Path, dockerfile: Path, target: str = "", **build_args: str) -> None:
    """A classic `docker build` on the host network (the only way out here), reusing the layer cache.

    The image the tag named before is removed when the build replaced it, so that repeated runs on changed
    sources do not pile up gigabytes of untagged images."""
    previous = image_id(tag)
    flags = [item for name, value in build_args.items() for item in ("--build-arg", f"{name}={value}")]
    if target:
        flags += ["--target", target]
    command = ("docker", "build", "--network", "host", "-f", dockerfile, "-t", tag, *flags, context)
    run(*command, env={"DOCKER_BUILDKIT": "0"})
    if previous and previous != image_id(tag):
        subprocess.run(["docker", "rmi", previous], capture_output=True, check=False)  # in use: kept


def build_rootfs() -> None:
    """A minimal bookworm root file system as an image, made once (debootstrap takes about a minute)."""
    if image_exists(ROOTFS_IMAGE):
        print(f"{ROOTFS_IMAGE} is cached")
        return
    with tempfile.TemporaryDirectory(prefix="fiqa-ctest-rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        run("debootstrap", "--variant=minbase", "bookworm", root, DEBIAN_MIRROR)
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (root / cache).glob("*"):
                if item.is_file():
                    item.unlink()
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", "-", ROOTFS_IMAGE], stdin=tar.stdout, check=False)
        tar.stdout.close()
        if tar.wait() != 0 or imported.returncode != 0:
            raise CheckFailed(f"importing the root file system as {ROOTFS_IMAGE} failed")


def build_base() -> None:
    """The Python 3.11 stand-in, trusting this machine's local certificate authorities."""
    with tempfile.TemporaryDirectory(prefix="fiqa-ctest-base-") as tmp:
        context = Path(tmp)
        certs = context / "certs"
        certs.mkdir()
        for cert in sorted(LOCAL_CA.glob("**/*.crt")) if LOCAL_CA.is_dir() else []:
            shutil.copy2(cert, certs / cert.name)
        build(BASE_IMAGE, context, HERE / "base.Dockerfile", ROOTFS=ROOTFS_IMAGE)


def build_prometheus() -> None:
    build(PROMETHEUS_IMAGE, HERE, HERE / "prometheus.Dockerfile", BASE=BASE_IMAGE)


def build_gateway() -> None:
    """The project's Dockerfile as it is, on the local base: the gateway, and the Triton stage with its model
    repository; the builder stage tagged to keep it cached."""
    bases = {"PYTHON_IMAGE": BASE_IMAGE, "TRITON_IMAGE": BASE_IMAGE}
    build(BUILDER_IMAGE, REPO, REPO / "Dockerfile", target="builder", **bases)
    build(GATEWAY_IMAGE, REPO, REPO / "Dockerfile", **bases)
    build(TRITON_IMAGE, REPO, REPO / "Dockerfile", target="triton", **bases)


def http(url: str, body: bytes | None = None, content_type: str = "") -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type} if content_type else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


def wait_ready(base_url: str) -> None:
    wait_for(lambda: http(f"{base_url}/readyz")[0] == 200, READY_TIMEOUT_S, f"{base_url}/readyz never answered 200")


def score_face(base_url: str) -> float:
    """POST the face photo as a raw image body; the response must score at least one face."""
    status, body = http(f"{base_url}/score", FACE.read_bytes(), "image/jpeg")
    if status != 200:
        raise CheckFailed(f"/score answered {status}: {body[:500]!r}")
    faces = [face for image in json.loads(body)["images"] for face in image["faces"]]
    if not faces or not 0 <= faces[0]["quality"]["score"] <= 100:
        raise CheckFailed(f"/score found no scored face in {FACE.name}: {body[:500]!r}")
    return faces[0]["quality"]["score"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def in_image(*command: str, user: str = GATEWAY_UID) -> str:
    """A command's output in a throw-away container of the gateway image."""
    run_as = ("--user", user)
    return run("docker", "run", "--rm", "--network", "none", *run_as, GATEWAY_IMAGE, *command, capture=True).strip()


def check_image_contents() -> None:
    """Torch-free, no training checkpoints anywhere, no PNG among the baked models; prints the size."""
    torch = in_image("python", "-c", "import importlib.util as u; print(u.find_spec('torch') is not None)")
    if torch != "False":
        raise CheckFailed("torch is importable in the gateway image")
    checkpoints = in_image("find", "/", "-xdev", "-name", "*.pt", "-type", "f", user="0")  # root reads every folder
    pictures = in_image("find", "/app", "-name", "*.png")
    if checkpoints or pictures:
        raise CheckFailed(f"files that do not belong in the gateway image:\n{checkpoints}\n{pictures}")
    size = int(run("docker", "image", "inspect", "--format", "{{.Size}}", GATEWAY_IMAGE, capture=True))
    print(f"{GATEWAY_IMAGE}: {size / 1e6:.0f} MB")


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def check_triton_repository() -> None:
    """/models of the Triton image: each committed model's config (byte for byte), card and ONNX file (its card's
    sha256), nothing missing; the image runs as the unprivileged user."""
    user = run("docker", "image", "inspect", "--format", "{{.Config.User}}", TRITON_IMAGE, capture=True).strip()
    if user != TRITON_USER:
        raise CheckFailed(f"the Triton image runs as {user!r}, not {TRITON_USER}")
    committed = REPO / "model_repository"
    expected = sorted(config.parent.name for config in committed.glob("*/config.pbtxt"))
    with tempfile.TemporaryDirectory(prefix="fiqa-ctest-repository-") as tmp:
        container = run("docker", "create", TRITON_IMAGE, capture=True).strip()
        try:
            run("docker", "cp", f"{container}:/models", tmp)
        finally:
            run("docker", "rm", container, capture=True)
        built = Path(tmp) / "models"
        present = sorted(config.parent.name for config in built.glob("*/config.pbtxt"))
        if present != expected:
            raise CheckFailed(f"the image's repository holds {present}, model_repository/ {expected}")
        for name in expected:
            if (built / name / "config.pbtxt").read_bytes() != (committed / name / "config.pbtxt").read_bytes():
                raise CheckFailed(f"{name}/config.pbtxt in the image differs from the committed one")
            card = (built / name / "card.yaml").read_text()
            checksum = re.search(r"^sha256:\s*([0-9a-f]{64})\s*$", card, re.MULTILINE)
            onnx = built / name / "1" / "model.onnx"
            if checksum is None or not onnx.is_file() or _sha256(onnx) != checksum.group(1):
                raise CheckFailed(f"{name}/1/model.onnx is missing or not the file its card names")
    print(f"{TRITON_IMAGE}: {len(expected)} models, each with its config, card and ONNX file; user {user}")


def check_gateway_container() -> None:
    """The image as `docker run` starts it (HOST/PORT from the environment), then a client's checks."""
    port = free_port()
    run(
        "docker", "run", "-d", "--name", GATEWAY_CONTAINER, "--network", "host",
        "-e", "HOST=127.0.0.1", "-e", f"PORT={port}", GATEWAY_IMAGE, "fiqa-service", "serve", capture=True,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base_url)
        print(f"/score of {FACE.name}: quality {score_face(base_url):.1f}")
        uid = run("docker", "exec", GATEWAY_CONTAINER, "id", "-u", capture=True).strip()
        if uid != GATEWAY_UID:
            raise CheckFailed(f"the gateway runs as uid {uid}, not {GATEWAY_UID}")
    except CheckFailed:
        subprocess.run(["docker", "logs", "--tail", "50", GATEWAY_CONTAINER], check=False)
        raise
    finally:
        run("docker", "rm", "-f", GATEWAY_CONTAINER, capture=True)


def prometheus_query(base_url: str, path: str, **params: str) -> list[dict]:
    status, body = http(f"{base_url}{path}?{urllib.parse.urlencode(params)}")
    if status != 200:
        return []
    data = json.loads(body)["data"]
    return data["activeTargets"] if "activeTargets" in data else data["result"]


def gateway_scraped(prometheus_url: str) -> bool:
    targets = prometheus_query(prometheus_url, "/api/v1/targets", state="active")
    up = any(t["labels"].get("instance") == "gateway-cpu:8000" and t["health"] == "up" for t in targets)
    counts = prometheus_query(
        prometheus_url, "/api/v1/query", query='fiqa_http_request_duration_seconds_count{route="/score"}'
    )
    return up and any(float(sample["value"][1]) > 0 for sample in counts)


def check_compose_stack() -> None:
    """gateway-cpu + Prometheus from docker-compose.yml, images swapped by compose.override.yml (Triton and
    Grafana, whose images cannot be pulled here, are left out by naming the two services)."""
    gateway_port, prometheus_port = free_port(), free_port()
    env = {
        "FIQA_TEST_GATEWAY_IMAGE": GATEWAY_IMAGE,
        "FIQA_TEST_PROMETHEUS_IMAGE": PROMETHEUS_IMAGE,
        "FIQA_GATEWAY_PORT": str(gateway_port),
        "FIQA_PROMETHEUS_PORT": str(prometheus_port),
        # required by the file (Grafana's admin password), although Grafana is not started here
        "GF_ADMIN_PASSWORD": hashlib.sha256(os.urandom(16)).hexdigest(),
    }
    compose = (
        "docker-compose", "--project-name", COMPOSE_PROJECT, "--project-directory", str(REPO),
        "-f", str(REPO / "docker-compose.yml"), "-f", str(HERE / "compose.override.yml"), "--profile", "embedded",
    )  # fmt: skip
    gateway_url, prometheus_url = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{prometheus_port}"
    try:
        run(*compose, "up", "-d", "--no-build", "gateway-cpu", "prometheus", env=env)
        wait_ready(gateway_url)
        score_face(gateway_url)
        wait_for(
            lambda: gateway_scraped(prometheus_url),
            SCRAPE_TIMEOUT_S,
            "Prometheus never reported gateway-cpu:8000 up with a /score latency histogram",
        )
        print('Prometheus: gateway-cpu:8000 up, fiqa_http_request_duration_seconds{route="/score"} scraped')
    except CheckFailed:
        subprocess.run([*compose, "logs", "--tail", "50"], env={**os.environ, **env}, check=False)
        raise
    finally:
        run(*compose, "down", "--volumes", "--remove-orphans", env=env)


def main() -> int:
    if not FACE.is_file():
        print(f"face photo not found at {FACE}; set FIQA_SHARED_DATA", file=sys.stderr)
        return 2
    steps: list[tuple[str, Callable[[], None]]] = [
        ("tools", ensure_tools),
        ("docker daemon", ensure_daemon),
        ("local bookworm root file system", build_rootfs),
        (f"local base image {BASE_IMAGE}", build_base),
        (f"local Prometheus image {PROMETHEUS_IMAGE}", build_prometheus),
        (f"gateway and Triton images {GATEWAY_IMAGE}, {TRITON_IMAGE}", build_gateway),
        ("gateway image contents", check_image_contents),
        ("gateway container: /readyz, /score, non-root", check_gateway_container),
        ("Triton image: the built model repository", check_triton_repository),
        ("compose: gateway-cpu + Prometheus", check_compose_stack),
    ]
    start = time.monotonic()
    try:
        for name, action in steps:
            with step(name):
                action()
    except CheckFailed as failure:
        print(f"container test FAILED: {failure}", file=sys.stderr)
        return 1
    print(f"container test passed in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
