"""The REST API's connections: a cap of their own, apart from DNS over TCP's, and a
deadline for each request's head that a trickle of bytes cannot extend.

Transport only. Each connection is aiohttp's RequestHandler behind an ApiConnection that
passes every event through; the outermost middleware tells it when a head has been read
and when the response is done (the body's deadline is the body reader's, in
geodns.api.middlewares). A slow client can hold a connection for one deadline, never
longer, and when the cap is reached the connection that has waited longest for its
request makes room for the new one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from aiohttp import web

from geodns.api.http import error_body

log = logging.getLogger(__name__)
BACKLOG = 1024  # a burst of connects waits in the kernel, not in SYN retries
LOG_EVERY_S = 1.0  # the limits' log lines, at most this often


@dataclass(frozen=True)
class ApiLimits:
    header_timeout_s: float = 5.0
    max_connections: int = 256


def busy_response(open_count: int) -> bytes:
    """503 for a connection turned away because every slot is busy with a request."""
    body = json.dumps(
        error_body(
            f"the API is serving {open_count} connections, its limit: retry shortly",
            (),
            uuid.uuid4().hex,
        )
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class ApiConnections:
    """Every open API connection, the cap, and what the limits did (for logs and tests)."""

    def __init__(self, limits: ApiLimits, count: Callable[[str], None] = lambda limit: None):
        self.limits = limits
        self._count = count  # the metrics' geodns_api_limited_total{limit}
        self._open: dict[ApiConnection, None] = {}  # insertion order: oldest first
        self.refused = 0  # turned away with 503: full, and none waiting for a request
        self.made_room = 0  # closed, waiting longest for a request, to let a new one in
        self.late_heads = 0  # closed: the head did not arrive within the deadline
        self._logged_at = -LOG_EVERY_S

    def __len__(self) -> int:
        return len(self._open)

    def factory(self, handler: Callable[[], asyncio.Protocol]) -> Callable[[], ApiConnection]:
        """A protocol factory for loop.create_server: handler() behind the limits."""
        return lambda: ApiConnection(handler(), self)

    def admit(self, connection: ApiConnection, now: float) -> bool:
        """Whether connection may be served; closes the longest waiter to make room."""
        if len(self._open) >= self.limits.max_connections:
            waiting = [c for c in self._open if c.waiting_since is not None]
            if not waiting:
                self.refused += 1
                self._count("connections_full")
                self._log(now, "api connection refused")
                return False
            oldest = min(waiting, key=lambda c: cast(float, c.waiting_since))
            self.made_room += 1
            self._count("connections_made_room")
            self._log(now, "api connection closed to make room")
            oldest.close()
            self._open.pop(oldest, None)
        self._open[connection] = None
        return True

    def closed(self, connection: ApiConnection) -> None:
        self._open.pop(connection, None)

    def head_late(self, now: float) -> None:
        self.late_heads += 1
        self._count("header_timeout")
        self._log(now, "api connection closed: request head late")

    def _log(self, now: float, what: str) -> None:
        if now - self._logged_at < LOG_EVERY_S:
            return
        self._logged_at = now
        log.warning(
            "%s open=%d max=%d header_timeout_s=%g refused=%d made_room=%d late_heads=%d",
            what,
            len(self._open),
            self.limits.max_connections,
            self.limits.header_timeout_s,
            self.refused,
            self.made_room,
            self.late_heads,
        )


class ApiConnection(asyncio.Protocol):
    """One client connection: aiohttp's handler inside, the head deadline around it."""

    def __init__(self, inner: asyncio.Protocol, connections: ApiConnections) -> None:
        self._inner = inner
        self._connections = connections
        self._transport: asyncio.Transport | None = None
        self._served = False  # admitted: the inner handler sees the connection
        self._dropping = False  # what the client sends now is thrown away
        self._deadline: asyncio.TimerHandle | None = None
        self.waiting_since: float | None = None  # waiting for a request head since then

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        loop = asyncio.get_running_loop()
        if not self._connections.admit(self, loop.time()):
            self._transport.write(busy_response(len(self._connections)))
            self._close_soon(self._transport)
            return
        self._served = True
        self.request_finished()  # the first head's deadline runs from the connect
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._served and not self._dropping:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._served else None

    def pause_writing(self) -> None:
        if self._served:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._served:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.closed(self)
        self._stop_deadline()
        self._transport = None
        if self._served:
            self._served = False
            self._inner.connection_lost(exc)

    # -- what the outermost middleware says -----------------------------------------------

    def request_started(self) -> None:
        """A request's head has been read: no deadline while it is being handled."""
        self.waiting_since = None
        self._stop_deadline()

    def request_finished(self) -> None:
        """The response is out: the next head is due within the deadline from now."""
        if self._transport is None:
            return
        loop = asyncio.get_running_loop()
        self._stop_deadline()
        self.waiting_since = loop.time()
        self._deadline = loop.call_later(self._connections.limits.header_timeout_s, self._late)

    def drop_input(self) -> None:
        """Read nothing more for the handler: the request is answered without the rest."""
        self._dropping = True

    def close(self) -> None:
        if self._transport is not None:
            self._close_soon(self._transport)

    # -- limits ---------------------------------------------------------------------------

    def _late(self) -> None:
        self._deadline = None
        if self._transport is not None and self.waiting_since is not None:
            self._connections.head_late(asyncio.get_running_loop().time())
            self._close_soon(self._transport)

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _close_soon(self, transport: asyncio.Transport) -> None:
        """Close after flushing what is queued, and abort if a client that does not read
        keeps that from finishing within one more deadline."""
        transport.close()
        loop = asyncio.get_running_loop()
        loop.call_later(self._connections.limits.header_timeout_s, transport.abort)


def connection_of(request: web.BaseRequest) -> ApiConnection | None:
    """The ApiConnection a request arrived on (None: served without the limits, as by a
    plain aiohttp site)."""
    transport = request.transport
    protocol = transport.get_protocol() if transport is not None else None
    return protocol if isinstance(protocol, ApiConnection) else None


class LimitedSite(web.BaseSite):
    """A TCP site whose connections are ApiConnections; HTTPS when given a context, whose
    handshake has the head's deadline too."""

    __slots__ = ("_host", "_port", "_connections")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        connections: ApiConnections,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=BACKLOG)
        self._host = host
        self._port = port
        self._connections = connections

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context is not None else "http"
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{scheme}://{host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        tls = self._ssl_context
        self._server = await loop.create_server(
            self._connections.factory(server),
            self._host,
            self._port,
            ssl=tls,
            backlog=self._backlog,
            reuse_address=True,
            ssl_handshake_timeout=self._connections.limits.header_timeout_s if tls else None,
        )


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """The API's server context: TLS 1.2 and newer, the chain and key from PEM files.

    Raises OSError or ssl.SSLError when they cannot be read or do not match."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context
