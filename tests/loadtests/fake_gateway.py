"""A tiny keep-alive HTTP/1.1 server on loopback, standing in for the gateway where the models don't matter.

A plain module (not conftest.py) so tests import it as ``tests.loadtests.fake_gateway``; async tests run it
inside ``asyncio.run`` (the suite does not depend on an asyncio pytest plugin).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

DEFAULT_MODELS = ["fake_quality"]


@dataclass
class FakeGateway:
    """Answers POST /score with a fixed body (GET /v1/models with ``default_models``); ``?status=503`` answers that
    status; ``?chunked`` uses chunks."""

    url: str = ""
    connections: int = 0
    requests: list[tuple[str, bytes]] = field(default_factory=list)
    delay_s: float = 0.0


async def _serve(state: FakeGateway, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    state.connections += 1
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            request_line, *lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            target = request_line.split(" ")[1]
            state.requests.append((target, body))
            if state.delay_s:
                await asyncio.sleep(state.delay_s)
            status = int(target.split("status=")[1].split("&")[0]) if "status=" in target else 200
            body = (
                {"default_models": DEFAULT_MODELS}
                if target.startswith("/v1/models")
                else {
                    "images": [{"faces": [{"decision": "accept"}]}],
                    "timings_ms": {"detect_infer": 1.0, "total": 2.0},
                }
            )
            payload = json.dumps(body).encode()
            if "chunked" in target:
                half = len(payload) // 2
                chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (payload[:half], payload[half:]))
                writer.write(
                    f"HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + chunks + b"0\r\n\r\n"
                )
            else:
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: {len(payload)}\r\n\r\n".encode() + payload)
            await writer.drain()
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def fake_gateway(delay_s: float = 0.0) -> AsyncIterator[FakeGateway]:
    """Serve on a free 127.0.0.1 port for the body of the ``async with``."""
    state = FakeGateway(delay_s=delay_s)
    server = await asyncio.start_server(lambda r, w: _serve(state, r, w), "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield state
        server.close()


@contextlib.contextmanager
def fake_gateway_thread(delay_s: float = 0.0) -> Iterator[FakeGateway]:
    """The same server on its own event loop in a thread, for code that runs ``asyncio.run`` itself (a CLI's main)."""
    started: queue.Queue[FakeGateway] = queue.Queue()
    stop = threading.Event()

    async def serve() -> None:
        async with fake_gateway(delay_s) as state:
            started.put(state)
            while not stop.is_set():
                await asyncio.sleep(0.02)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    try:
        yield started.get(timeout=10)
    finally:
        stop.set()
        thread.join(timeout=10)
