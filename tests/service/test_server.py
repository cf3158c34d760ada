"""service.server and the connection settings of ``fiqa-service serve``, against a real uvicorn process on a socket:
slow headers and idle connections are closed, a slow body gets a 408, an early 413 closes the connection, a client
that goes away mid-upload is one access line and no traceback, and the server answers after each (issue 21, item 4)."""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest
from PIL import Image

from loadtests.server import Gateway

TIMEOUT_S = 1.0  # header, body and keep-alive deadlines of the server under test
MAX_BODY = 100_000


@contextmanager
def _serve(log: Path, **settings: str) -> Iterator[tuple[str, int, Path, int]]:
    """``fiqa-service serve`` (loadtests.server.Gateway) with ``settings`` (FIQA_* values), once ready: host, port,
    log, pid."""
    env = {"FIQA_WARMUP": "false", "FIQA_LOG_FORMAT": "text", **settings}
    with Gateway(env, log=log) as gateway:
        assert gateway.process is not None
        yield "127.0.0.1", gateway.port, log, gateway.process.pid


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, Path, int]]:
    deadlines = {f"FIQA_{name}_S": str(TIMEOUT_S) for name in ("HEADER_TIMEOUT", "BODY_TIMEOUT", "KEEP_ALIVE_TIMEOUT")}
    log = tmp_path_factory.mktemp("server") / "server.log"
    with _serve(log, FIQA_MAX_BODY_BYTES=str(MAX_BODY), **deadlines) as running:
        yield running


def _connect(server: tuple[str, int, Path, int]) -> socket.socket:
    host, port = server[:2]
    sock = socket.create_connection((host, port), timeout=10)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a closed connection reads b"")."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _still_answers(server: tuple[str, int, Path, int]) -> None:
    host, port = server[:2]
    response = httpx2.get(f"http://{host}:{port}/healthz", timeout=5)
    assert response.status_code == 200 and "server" not in response.headers


def test_trickled_headers_are_cut_off(server) -> None:
    started = time.monotonic()
    with _connect(server) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: gateway\r\n")
        assert _read_all(sock) == b""  # closed, nothing answered
    assert time.monotonic() - started < TIMEOUT_S + 5
    _still_answers(server)


def test_a_silent_connection_is_closed(server) -> None:
    with _connect(server) as sock:
        assert _read_all(sock) == b""
    _still_answers(server)


def test_a_slow_body_is_a_408_and_the_connection_closes(server) -> None:
    with _connect(server) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: g\r\nContent-Type: image/jpeg\r\nContent-Length: 1000\r\n\r\n")
        sock.sendall(b"\xff\xd8" + b"\0" * 8)
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408") and b'"body_timeout"' in answer and b"x-request-id" in answer.lower()
    _still_answers(server)


def test_an_early_413_closes_the_connection(server) -> None:
    with _connect(server) as sock:
        head = f"POST /score HTTP/1.1\r\nHost: g\r\nContent-Type: image/jpeg\r\nContent-Length: {MAX_BODY * 10}\r\n\r\n"
        sock.sendall(head.encode() + b"\0" * 4096)
        answer = _read_all(sock)  # returns only because the server closes: the other ~1 MB is never sent
    assert answer.startswith(b"HTTP/1.1 413") and b'"body_too_large"' in answer
    _still_answers(server)


def test_a_client_leaving_mid_upload_is_one_line_and_no_traceback(server) -> None:
    log: Path = server[2]
    before = log.read_text()
    with _connect(server) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: g\r\nContent-Type: image/jpeg\r\nContent-Length: 5000\r\n\r\n")
        sock.sendall(b"\xff\xd8" + b"\0" * 100)
    time.sleep(0.5)
    _still_answers(server)
    written = log.read_text()[len(before) :]
    assert "Traceback" not in written and "ERROR" not in written
    assert sum(" 499" in line for line in written.splitlines()) == 1


def _memory_kb(pid: int) -> dict[str, int]:
    """Resident set now (VmRSS) and at its peak (VmHWM) of a process, from /proc (kB)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM")}


def test_memory_of_large_frames_is_bounded_per_request_and_per_process(tmp_path: Path) -> None:
    """16 small JPEGs whose headers say 6000x6000 (the issue's attack): refused from their headers (413) with no
    decode; 2 such frames, within the request budget, decoded one slot at a time: the peak stays under 1 GB above
    the idle process, and the process returns near its size before the request."""
    frame = io.BytesIO()
    Image.new("RGB", (6000, 6000), (128, 128, 128)).save(frame, "JPEG", quality=5)
    files = [("images", (f"{i}.jpg", frame.getvalue(), "image/jpeg")) for i in range(16)]
    with _serve(tmp_path / "server.log") as (host, port, _, pid):
        url = f"http://{host}:{port}/score"
        for _ in range(3):  # first-use allocations (onnxruntime's arena, thread pools and their heaps) out of the way
            assert httpx2.post(url, files=files[:2], timeout=120).status_code == 200
        idle = _memory_kb(pid)["VmRSS"]
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # peak := now
        refused = httpx2.post(url, files=files, timeout=120)
        assert refused.status_code == 413 and refused.json()["error"]["code"] == "request_too_many_pixels"
        assert _memory_kb(pid)["VmHWM"] - idle < 100_000
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        answered = httpx2.post(url, files=files[:2], timeout=120)
        assert answered.status_code == 200 and [i["status"] for i in answered.json()["images"]] == ["ok", "ok"]
        after = _memory_kb(pid)
    assert after["VmHWM"] - idle < 1_000_000
    assert after["VmRSS"] < 1.1 * idle
