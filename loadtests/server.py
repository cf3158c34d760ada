"""Run the real gateway (``fiqa-service serve``, uvicorn) as a child process on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` (Linux /proc), 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Gateway:
    """Context manager: start the gateway with ``env`` overrides, wait until /readyz answers 200, stop it.

    Its output goes to ``log`` (default: a temporary file whose tail is shown if the gateway fails to start).
    """

    def __init__(self, env: dict[str, str] | None = None, log: Path | None = None, ready_timeout_s: float = 180.0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self._tmp = None if log else tempfile.TemporaryDirectory(prefix="fiqa-gateway-")
        self.log = log or Path(self._tmp.name) / "gateway.log"
        self.ready_timeout_s = ready_timeout_s
        self.process: subprocess.Popen | None = None
        self._log_file: IO[bytes] | None = None

    def __enter__(self) -> Gateway:
        command = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self._log_file = open(self.log, "wb")
        self.process = subprocess.Popen(
            command, cwd=REPO, env=self.env, stdout=self._log_file, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code, tail = self.process.returncode, self.log_tail()
                self.__exit__(None, None, None)
                raise RuntimeError(f"gateway exited with {code} before it was ready:\n{tail}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as reply:
                    if reply.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        tail = self.log_tail()
        self.__exit__(None, None, None)
        raise RuntimeError(f"gateway not ready after {self.ready_timeout_s} s:\n{tail}")

    @property
    def settings_env(self) -> dict[str, str]:
        """The ``FIQA_*`` variables the gateway starts with: with the commit, they fix every setting it runs."""
        return {key: value for key, value in sorted(self.env.items()) if key.startswith("FIQA_")}

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
