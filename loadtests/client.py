"""A small HTTP/1.1 keep-alive client on raw asyncio streams, for loopback load generation only.

Why not a full client library: on a 2-core host the load generator shares the CPU with the gateway, so it must
cost as little as possible per request; and it must refuse to point load at anything but this machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


class NotLoopback(ValueError):
    """The target is not on this machine; load is only ever sent to loopback addresses."""


def loopback_target(url: str) -> tuple[str, int]:
    """(host, port) of ``url`` if every address it resolves to is loopback; raises ``NotLoopback`` otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise NotLoopback(f"{url!r}: only plain http:// URLs to a loopback host are accepted")
    port = parts.port or 80
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NotLoopback(f"{parts.hostname!r} does not resolve: {exc}") from exc
    addresses = {info[4][0] for info in infos}
    if not addresses or not all(ipaddress.ip_address(address.split("%")[0]).is_loopback for address in addresses):
        raise NotLoopback(f"{parts.hostname!r} resolves to {sorted(addresses)}: refusing a non-loopback target")
    return parts.hostname, port


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Record:
    """One request as the generator saw it (times in seconds from the run's start; latency in ms)."""

    kind: str
    started: float
    latency_ms: float
    status: str  # HTTP status, or "timeout" / "error:<Exception>"
    timings_ms: dict[str, float] = field(default_factory=dict)
    faces: int = 0


# uvicorn closes keep-alive connections idle for 5 s; older idle ones are dropped rather than reused.
IDLE_REUSE_S = 4.0


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.idle_since = time.monotonic()

    def reusable(self) -> bool:
        return not self.reader.at_eof() and time.monotonic() - self.idle_since < IDLE_REUSE_S

    def close(self) -> None:
        self.writer.close()


class LoopbackClient:
    """Keep-alive connection pool to one loopback server; at most ``max_connections`` requests in flight."""

    def __init__(self, url: str, max_connections: int = 64):
        self.host, self.port = loopback_target(url)
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max_connections)

    async def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Reply:
        async with self._slots:
            connection = await self._checkout()
            try:
                reply = await self._exchange(connection, method, path, body, headers or {})
            except BaseException:
                connection.close()
                raise
            if reply.headers.get("connection", "").lower() == "close":
                connection.close()
            else:
                connection.idle_since = time.monotonic()
                self._idle.append(connection)
            return reply

    async def _checkout(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable():
                return connection
            connection.close()
        return await self._connect()

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return _Connection(reader, writer)

    async def _exchange(
        self, connection: _Connection, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> Reply:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        connection.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await connection.writer.drain()
        head = await connection.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        reply_headers = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                reply_headers[name.strip().lower()] = value.strip()
        if reply_headers.get("transfer-encoding", "").lower() == "chunked":
            payload = await self._read_chunked(connection.reader)
        else:
            payload = await connection.reader.readexactly(int(reply_headers.get("content-length", "0")))
        return Reply(status, reply_headers, payload)

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()


def _faces(reply: Reply) -> tuple[dict[str, float], int]:
    if reply.status != 200:
        return {}, 0
    body = reply.json()
    return body.get("timings_ms", {}), sum(len(image.get("faces", [])) for image in body.get("images", []))


async def timed_request(client: LoopbackClient, payload: Any, started: float, timeout_s: float, t0: float) -> Record:
    """Send ``payload`` (a ``workload.Payload``); latency counts from ``started`` (its scheduled time)."""
    try:
        reply = await asyncio.wait_for(
            client.request("POST", payload.path, payload.body, {"Content-Type": payload.content_type}), timeout_s
        )
        status = str(reply.status)
        timings, faces = _faces(reply)
    except TimeoutError:
        status, timings, faces = "timeout", {}, 0
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        status, timings, faces = f"error:{type(exc).__name__}", {}, 0
    latency_ms = (time.perf_counter() - started) * 1000.0
    return Record(payload.kind, started - t0, latency_ms, status, timings, faces)


async def closed_loop(
    client: LoopbackClient, next_payload: Any, *, concurrency: int, duration_s: float, timeout_s: float = 60.0
) -> tuple[list[Record], float]:
    """``concurrency`` users each sending the next request as soon as the last answered, for ``duration_s``.

    Returns the records and the wall time from the first send to the last answer.
    """
    t0 = time.perf_counter()
    deadline = t0 + duration_s
    records: list[Record] = []

    async def user() -> None:
        while time.perf_counter() < deadline:
            now = time.perf_counter()
            records.append(await timed_request(client, next_payload(), now, timeout_s, t0))

    await asyncio.gather(*(user() for _ in range(concurrency)))
    return records, time.perf_counter() - t0
