"""The HTTP server's own defences, below the application: a deadline for each request's headers (uvicorn has
none: a client that opens a connection and trickles its headers would hold it for ever), on top of uvicorn's
keep-alive timeout and connection limit, which ``fiqa-service serve`` sets from the same settings.

The body has its own deadline in the application (``service.api.parsing.read_body``), where the answer can be a
408 with the request id."""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from service.settings import get_settings

log = logging.getLogger("service.server")


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request headers are not complete within
    ``header_timeout_s`` of its first byte (or of the connection itself)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timeout_s = get_settings().header_timeout_s
        self._header_deadline: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(self._header_timeout_s, self._headers_late)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_late(self) -> None:
        self._header_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            late = "closing a connection from %s: its request headers took over %s s"
            log.info(late, self.client, self._header_timeout_s)
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:  # the first bytes of a request: its headers are now on the clock
            self._arm()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
