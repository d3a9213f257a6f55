"""asyncio UDP and TCP listeners: framing and dispatch only (RFC 1035 §4.2, RFC 7766).

Every answer is computed synchronously by the answer callable, so a TCP frame that
arrived is answered before the next is read, and shutdown only has to stop accepting
and flush what is written.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import cast

from geodns.answer.context import Transport
from geodns.endpoints import Endpoint, format_endpoint

log = logging.getLogger(__name__)

Answer = Callable[[bytes, str, Transport], bytes | None]
# the native data plane (answer/native.py): called when a UDP socket is readable, it reads
# and answers what is queued, up to its budget, then returns to the loop
UdpReader = Callable[[socket.socket], None]


class UdpListener(asyncio.DatagramProtocol):
    def __init__(self, answer: Answer) -> None:
        self._answer = answer
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self._answer(data, addr[0], Transport.UDP)
        if reply is not None and self._transport is not None:
            self._transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("udp error=%s", exc)


@dataclass
class TcpLimits:
    # RFC 7766 §6.2.3: servers close idle connections. The clock runs per message: from
    # the connection's start or its last answered query to the next complete query, so a
    # client trickling a byte at a time cannot hold a connection past it.
    idle_timeout_s: float = 10.0
    max_connections: int = 1000
    max_per_client: int = 32  # one /32 or /128 cannot hold the rest of the world's share


class TcpConnections:
    """Every open DNS-over-TCP connection of a process: the caps, and who goes when full.

    Connections are kept in the order they last had a query answered (or opened): when
    the process is at max_connections, the first of them that is waiting on its client
    (nothing of ours left to write) is closed to make room, rather than the new client
    turned away. A client over max_per_client is turned away. Refusals are counted, and
    logged at most once a second.
    """

    def __init__(self, limits: TcpLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._open: OrderedDict[TcpConnection, None] = OrderedDict()
        self._per_client: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()  # by reason: per_client, full
        self.evicted = 0
        self._logged_at = -1.0
        self._unlogged = 0

    def __len__(self) -> int:
        return len(self._open)

    def __iter__(self) -> Iterator[TcpConnection]:
        return iter(list(self._open))

    def admit(self, connection: TcpConnection, peer: str) -> bool:
        """Register a new connection; False when it must be closed at once."""
        if self._per_client[peer] >= self.limits.max_per_client:
            self._refuse("per_client", peer)
            return False
        if len(self._open) >= self.limits.max_connections and not self._evict_one():
            self._refuse("full", peer)
            return False
        self._open[connection] = None
        self._per_client[peer] += 1
        return True

    def answered(self, connection: TcpConnection) -> None:
        """A query was answered: the connection goes to the back of the eviction order."""
        if connection in self._open:
            self._open.move_to_end(connection)

    def remove(self, connection: TcpConnection, peer: str) -> None:
        if connection in self._open:
            del self._open[connection]
            self._per_client[peer] -= 1
            if self._per_client[peer] <= 0:
                del self._per_client[peer]

    def _evict_one(self) -> bool:
        for connection in self._open:
            if connection.waiting_on_client():
                self.evicted += 1
                self.remove(connection, connection.peer)
                connection.close()
                return True
        return False

    def _refuse(self, reason: str, peer: str) -> None:
        self.refused[reason] += 1
        now = self._clock()
        if now - self._logged_at < 1.0:
            self._unlogged += 1
            return
        log.warning(
            "tcp connection refused reason=%s client=%s open=%d max=%d per_client=%d unlogged=%d",
            reason,
            peer,
            len(self._open),
            self.limits.max_connections,
            self.limits.max_per_client,
            self._unlogged,
        )
        self._logged_at, self._unlogged = now, 0


class TcpConnection(asyncio.Protocol):
    """One client connection: 2-byte length framing, pipelined queries answered in order."""

    def __init__(self, answer: Answer, registry: TcpConnections) -> None:
        self._answer = answer
        self._limits = registry.limits
        self._registry = registry
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self.peer = ""
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if peer else ""
        if not self._registry.admit(self, self.peer):
            self._transport.close()  # closed at once, not queued: the client goes elsewhere
            self._transport = None
            return
        self._arm_deadline()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer.extend(data)
        transport = self._transport
        while len(buffer) >= 2 and transport is not None and not transport.is_closing():
            length = (buffer[0] << 8) | buffer[1]
            if length < 12:
                # not even a header: nothing sensible to answer, and framing may be lost
                transport.close()
                return
            if len(buffer) < 2 + length:
                break  # a partial message does not move the deadline
            message = bytes(buffer[2 : 2 + length])
            del buffer[: 2 + length]
            reply = self._answer(message, self.peer, Transport.TCP)
            if reply is not None:
                transport.write(len(reply).to_bytes(2, "big") + reply)
            self._registry.answered(self)
            self._arm_deadline()

    def waiting_on_client(self) -> bool:
        """Nothing of ours is left to write: closing it loses no answer."""
        transport = self._transport
        return transport is not None and transport.get_write_buffer_size() == 0

    def eof_received(self) -> bool | None:
        return None  # close our side too, after writing what is queued

    def pause_writing(self) -> None:
        if self._transport is not None:
            self._transport.pause_reading()  # a client that does not read stops being read

    def resume_writing(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._registry.remove(self, self.peer)
        if self._deadline is not None:
            self._deadline.cancel()
        self._transport = None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()  # flushes the write buffer first

    def _arm_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        if self._transport is not None:
            loop = asyncio.get_running_loop()
            self._deadline = loop.call_later(self._limits.idle_timeout_s, self.close)


@dataclass
class Listeners:
    udp: list[asyncio.DatagramTransport] = field(default_factory=list)
    tcp: list[asyncio.Server] = field(default_factory=list)
    connections: TcpConnections = field(default_factory=lambda: TcpConnections(TcpLimits()))
    endpoints: list[Endpoint] = field(default_factory=list)
    native_udp: list[socket.socket] = field(default_factory=list)  # read by a UdpReader

    async def close(self) -> None:
        """Stop accepting, close UDP sockets, then close each TCP connection after its
        answered replies are flushed."""
        for server in self.tcp:
            server.close()
        for transport in self.udp:
            transport.close()
        if self.native_udp:
            loop = asyncio.get_running_loop()
            for sock in self.native_udp:
                loop.remove_reader(sock.fileno())
                sock.close()
            self.native_udp.clear()
        for connection in list(self.connections):
            connection.close()
        for server in self.tcp:
            await server.wait_closed()


def bind_socket(host: str, port: int, kind: socket.SocketKind, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, kind)
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if kind == socket.SOCK_DGRAM:
            # a deeper receive queue absorbs bursts instead of dropping them
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def bind_pair(host: str, port: int, reuse_port: bool) -> tuple[socket.socket, socket.socket]:
    """UDP and TCP sockets on the same address and port.

    With port 0 the kernel picks the UDP port, which another process may hold for TCP:
    then both are released and another port is tried.
    """
    for _ in range(20 if port == 0 else 1):
        udp_sock = bind_socket(host, port, socket.SOCK_DGRAM, reuse_port)
        try:
            tcp_sock = bind_socket(host, udp_sock.getsockname()[1], socket.SOCK_STREAM, reuse_port)
        except OSError as exc:
            udp_sock.close()
            if port != 0 or exc.errno != errno.EADDRINUSE:
                raise
            continue
        return udp_sock, tcp_sock
    raise OSError(errno.EADDRINUSE, f"no port free for both UDP and TCP on {host}")


async def start_listeners(
    endpoints: list[Endpoint],
    answer: Answer,
    *,
    limits: TcpLimits | None = None,
    reuse_port: bool = False,
    udp_reader: UdpReader | None = None,
) -> Listeners:
    """UDP and TCP on each address and port; raises OSError when one cannot bind.

    With udp_reader, UDP sockets are read by it (the native data plane) instead of an
    asyncio datagram transport; TCP is always answered here.
    """
    loop = asyncio.get_running_loop()
    listeners = Listeners(connections=TcpConnections(limits or TcpLimits()))
    try:
        for host, port in endpoints:
            udp_sock, tcp_sock = bind_pair(host, port, reuse_port)
            bound_port = udp_sock.getsockname()[1]
            if udp_reader is not None:
                listeners.native_udp.append(udp_sock)
                loop.add_reader(udp_sock.fileno(), udp_reader, udp_sock)
            else:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: UdpListener(answer), sock=udp_sock
                )
                listeners.udp.append(transport)
            server = await loop.create_server(
                lambda: TcpConnection(answer, listeners.connections),
                sock=tcp_sock,
                backlog=1024,
            )
            listeners.tcp.append(server)
            listeners.endpoints.append((host, bound_port))
            log.info(
                "listening dns=%s transport=udp+tcp data_plane=%s",
                format_endpoint((host, bound_port)),
                "python" if udp_reader is None else "native",
            )
    except BaseException:
        await listeners.close()
        raise
    return listeners
