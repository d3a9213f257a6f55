"""The HTTP/1.1 listener of the redirector: framing, limits and dispatch only.

httptools (llhttp) parses; each request is answered synchronously when its message is
complete, so pipelined requests get their responses in order and shutdown only has to
stop accepting and flush. Heads are capped (431), bodies too (413: a GET has no use for
one), idle connections close, and a client that does not read stops being read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import httptools

from geodns.redirect.forwarded import Address, parse_address
from geodns.redirect.response import encode_error
from geodns.redirect.service import RedirectService, Request

log = logging.getLogger(__name__)

Endpoint = tuple[str, int]
# request line and headers: refused (431) once more than this has arrived. The parser
# does not say where in a chunk a head ends, so chunks are fed FEED_BYTES at a time and
# counted between pieces: a head up to MAX_HEAD_BYTES always passes, one past
# MAX_HEAD_BYTES + FEED_BYTES never does.
MAX_HEAD_BYTES = 16 * 1024
FEED_BYTES = 1024
MAX_BODY_BYTES = 64 * 1024  # a GET or HEAD body is read and ignored up to this; more is 413
CLOSE = b"Connection: close\r\n"
KEEP_ALIVE = b"Connection: keep-alive\r\n"  # HTTP/1.0 clients that asked for it


@dataclass(frozen=True)
class HttpLimits:
    idle_timeout_s: float = 10.0
    max_connections: int = 1000


class HttpConnection(asyncio.Protocol):
    """One client connection; also the parser's callback object."""

    def __init__(
        self, service: RedirectService, limits: HttpLimits, registry: set[HttpConnection]
    ) -> None:
        self._service = service
        self._limits = limits
        self._registry = registry
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._peer: Address = (4, 0)
        self._peer_trusted = False
        self._request = Request()
        self._url = bytearray()
        self._in_head = False
        self._head_bytes = 0
        self._body_bytes = 0
        self._closing = False
        self._last_active = 0.0
        self._clock: Callable[[], float] = time.monotonic  # the loop's, once connected
        self._idle: asyncio.TimerHandle | None = None

    # -- transport callbacks ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        if len(self._registry) >= self._limits.max_connections:
            log.warning(
                "http connection refused open=%d max=%d",
                len(self._registry),
                self._limits.max_connections,
            )
            self._transport.close()
            return
        self._registry.add(self)
        peer = transport.get_extra_info("peername")
        self._peer = (parse_address(peer[0]) if peer else None) or self._peer
        self._peer_trusted = self._service.is_trusted(self._peer)
        loop = asyncio.get_running_loop()
        self._clock = loop.time
        self._last_active = loop.time()
        self._idle = loop.call_later(self._limits.idle_timeout_s, self._check_idle)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self._last_active = self._clock()
        try:
            if len(data) <= FEED_BYTES and not self._in_head:  # a whole small request: feed
                self._parser.feed_data(data)
                if self._in_head and not self._closing:
                    self._head_bytes += len(data)
                return
            for start in range(0, len(data), FEED_BYTES):
                if self._in_head and self._head_bytes > MAX_HEAD_BYTES:
                    self._fail(431, f"request head over {MAX_HEAD_BYTES} bytes")
                    return
                piece = data[start : start + FEED_BYTES] if len(data) > FEED_BYTES else data
                self._parser.feed_data(piece)
                if self._closing:
                    return
                if self._in_head:
                    self._head_bytes += len(piece)
        except httptools.HttpParserUpgrade:
            self._fail(400, "protocol upgrades are not offered")
        except httptools.HttpParserError as exc:
            self._fail(400, f"malformed request: {exc}")

    def eof_received(self) -> bool | None:
        return None  # close our side too, after writing what is queued

    def pause_writing(self) -> None:
        if self._transport is not None:
            self._transport.pause_reading()  # a client that does not read stops being read

    def resume_writing(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._registry.discard(self)
        if self._idle is not None:
            self._idle.cancel()
        self._transport = None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()  # flushes the write buffer first

    # -- parser callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._request = Request()
        self._url.clear()
        self._in_head = True
        self._head_bytes = 0
        self._body_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        request = self._request
        if name == b"host":
            request.host = value.decode("latin-1").strip()
        elif name == b"accept":
            request.accept = _joined(request.accept, value)
        elif name == b"x-forwarded-for":
            request.forwarded_for = _joined(request.forwarded_for, value)
        elif name == b"forwarded":
            request.forwarded = _joined(request.forwarded, value)

    def on_headers_complete(self) -> None:
        self._in_head = False

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > MAX_BODY_BYTES:
            self._fail(413, f"request body over {MAX_BODY_BYTES} bytes")

    def on_message_complete(self) -> None:
        transport = self._transport
        if transport is None or self._closing:
            return
        request = self._request
        request.method = self._parser.get_method()
        request.target = bytes(self._url)
        keep_alive = self._parser.should_keep_alive()
        connection = b""
        if not keep_alive:
            connection = CLOSE
        elif self._parser.get_http_version() == "1.0":
            connection = KEEP_ALIVE
        transport.write(self._service.respond(request, self._peer, connection, self._peer_trusted))
        if not keep_alive:
            self._closing = True
            transport.close()

    # -- limits ---------------------------------------------------------------------------

    def _fail(self, status: int, message: str) -> None:
        """Answer a request that cannot be read (or goes too far), then close."""
        self._closing = True
        self._service.stats.responses[("", "", status)] += 1
        if self._transport is not None:
            date = self._service.date()
            self._transport.write(encode_error(status, message, connection=CLOSE, date=date))
            self._transport.close()

    def _check_idle(self) -> None:
        if self._transport is None:
            return
        loop = asyncio.get_running_loop()
        left = self._last_active + self._limits.idle_timeout_s - loop.time()
        if left <= 0:
            self._transport.close()
        else:
            self._idle = loop.call_later(left, self._check_idle)


def _joined(before: str | None, value: bytes) -> str:
    """Repeated header lines are one comma-separated list (RFC 9110 §5.3)."""
    text = value.decode("latin-1")
    return text if before is None else f"{before}, {text}"


@dataclass
class HttpListeners:
    servers: list[asyncio.Server] = field(default_factory=list)
    connections: set[HttpConnection] = field(default_factory=set)
    endpoints: list[Endpoint] = field(default_factory=list)

    async def close(self) -> None:
        """Stop accepting, then close each connection after its responses are flushed."""
        for server in self.servers:
            server.close()
        for connection in list(self.connections):
            connection.close()
        for server in self.servers:
            await server.wait_closed()


async def start_http(
    endpoints: Sequence[Endpoint], service: RedirectService, limits: HttpLimits
) -> HttpListeners:
    """A listener on each address and port; raises OSError when one cannot bind."""
    loop = asyncio.get_running_loop()
    listeners = HttpListeners()
    try:
        for host, port in endpoints:
            server = await loop.create_server(
                lambda: HttpConnection(service, limits, listeners.connections),
                host,
                port,
                reuse_address=True,
                backlog=1024,
            )
            listeners.servers.append(server)
            bound = server.sockets[0].getsockname()
            listeners.endpoints.append((host, bound[1]))
            shown = f"[{host}]" if ":" in host else host
            log.info("listening http=http://%s:%d", shown, bound[1])
    except BaseException:
        await listeners.close()
        raise
    return listeners
