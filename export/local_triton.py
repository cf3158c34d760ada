"""Run the real ``tritonserver`` shipped in PyPI ``nvidia-pytriton`` on 127.0.0.1, for tests and benchmarks.

``make triton-env`` builds ``.venv-triton`` (nvidia-pytriton 0.7.0 = Triton 2.51, numpy < 2, onnxruntime) and
copies the Python 3.11 backend stub into the ``backends/python/`` folder Triton loads backends from. Only the
Python backend ships there, so it serves the Python-backend twin repository (``--python-twin``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from service.settings import REPO_ROOT

TRITON_VENV = REPO_ROOT / ".venv-triton"


class TritonNotInstalled(RuntimeError):
    """``.venv-triton`` or its tritonserver / Python stub is missing: run ``make triton-env``."""


def find_tritonserver(venv: Path = TRITON_VENV) -> tuple[Path, Path]:
    """``(tritonserver binary, backends folder)`` inside the venv's pytriton package."""
    roots = sorted(venv.glob("lib/python3*/site-packages/pytriton/tritonserver"))
    if not roots:
        raise TritonNotInstalled(f"no nvidia-pytriton under {venv}: run `make triton-env`")
    root = roots[0]
    binary, backends = root / "bin" / "tritonserver", root / "backends"
    stub = backends / "python" / "triton_python_backend_stub"
    for needed in (binary, stub):
        if not needed.exists():
            raise TritonNotInstalled(f"{needed} is missing: run `make triton-env`")
    return binary, backends


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalTriton:
    """One tritonserver process (own process group, so its Python stubs die with it) on fixed local ports.

    The ports are chosen once, so ``start()`` after ``kill()`` brings the server back where clients expect it.
    """

    def __init__(self, repository: Path, *, venv: Path = TRITON_VENV, log_path: Path | None = None):
        self.repository = Path(repository)
        self.venv = Path(venv)
        self.binary, self.backends = find_tritonserver(self.venv)
        self.http_port, self.grpc_port, self.metrics_port = free_port(), free_port(), free_port()
        self.log_path = log_path or self.repository.parent / "tritonserver.log"
        self.process: subprocess.Popen | None = None

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        libs = sorted(self.venv.glob("lib/python3*/site-packages/nvidia_pytriton.libs"))
        if libs:
            env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(libs[0]), env.get("LD_LIBRARY_PATH")]))
        env.setdefault("FIQA_TWIN_THREADS", "1")
        for key in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):  # the stub must see .venv-triton only
            env.pop(key, None)
        return env

    def command(self) -> list[str]:
        return [
            str(self.binary),
            f"--model-repository={self.repository}",
            f"--backend-directory={self.backends}",
            "--http-address=127.0.0.1",
            f"--http-port={self.http_port}",
            "--grpc-address=127.0.0.1",
            f"--grpc-port={self.grpc_port}",
            "--metrics-address=127.0.0.1",
            f"--metrics-port={self.metrics_port}",
            "--allow-gpu-metrics=false",
            "--exit-timeout-secs=5",
            "--log-verbose=0",
        ]

    def is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.http_url}/v2/health/ready", timeout=1) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def start(self, timeout_s: float = 90.0) -> None:
        """Start the server and wait until it and every model are ready (strict readiness)."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("tritonserver is already running")
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, env=self._env(), start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tritonserver exited with {self.process.returncode}; see {self.log_path}")
            if self.is_ready():
                return
            time.sleep(0.2)
        self.kill()
        raise TimeoutError(f"tritonserver not ready after {timeout_s:.0f} s; see {self.log_path}")

    def _signal(self, sig: signal.Signals, wait_s: float) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, sig)  # the group this object started: server + its Python stubs
        except ProcessLookupError:
            return
        try:
            self.process.wait(wait_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def kill(self) -> None:
        """Die at once, as a crashed server would."""
        self._signal(signal.SIGKILL, 5)

    def stop(self) -> None:
        """Graceful shutdown (Triton drains in-flight requests within ``--exit-timeout-secs``)."""
        self._signal(signal.SIGTERM, 15)

    def __enter__(self) -> LocalTriton:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
