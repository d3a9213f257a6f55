"""A TCP proxy between geodns and PostgreSQL that a test (or a bench script) breaks on purpose.

The machine's PostgreSQL is shared by every engineer's tests, so an outage is made here,
never there: down() cuts every connection and resets new ones (a stopped server),
hang() keeps connections open and accepts new ones but forwards nothing either way (a
frozen server or a stalled network: bytes wait in the kernel's buffers), up() forwards
again, the stalled bytes included. It runs its own event loop in a thread, so a blocking
test and an in-process server (one asyncio.run) can both use it.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Coroutine
from typing import Any

from sqlalchemy.engine import make_url

UP, DOWN, HANG = "up", "down", "hang"


class _Pipe:
    """One client connection and its connection to the database."""

    def __init__(self, client: asyncio.Transport) -> None:
        self.client = client
        self.server: asyncio.Transport | None = None
        self.pending: list[bytes] = []  # what the client sent before the server answered

    def pause(self) -> None:
        for transport in (self.client, self.server):
            if transport is not None and not transport.is_closing():
                transport.pause_reading()

    def resume(self) -> None:
        for transport in (self.client, self.server):
            if transport is not None and not transport.is_closing():
                transport.resume_reading()

    def cut(self) -> None:
        for transport in (self.client, self.server):
            if transport is not None:
                _reset(transport)


def _reset(transport: asyncio.BaseTransport) -> None:
    """Close with a TCP RST, as a dead server's host answers (SO_LINGER 0)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()


class _ServerSide(asyncio.Protocol):
    def __init__(self, pipe: _Pipe) -> None:
        self._pipe = pipe

    def data_received(self, data: bytes) -> None:
        self._pipe.client.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._pipe.client.close()


class _ClientSide(asyncio.Protocol):
    def __init__(self, proxy: DatabaseProxy) -> None:
        self._proxy = proxy
        self._pipe: _Pipe | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        client = transport
        assert isinstance(client, asyncio.Transport)
        if self._proxy.mode == DOWN:
            self._proxy.refused += 1
            _reset(client)
            return
        self._pipe = pipe = _Pipe(client)
        self._proxy.pipes.add(pipe)
        if self._proxy.mode == HANG:
            client.pause_reading()
        task = asyncio.get_running_loop().create_task(self._connect(pipe))
        self._proxy.tasks.add(task)
        task.add_done_callback(self._proxy.tasks.discard)

    async def _connect(self, pipe: _Pipe) -> None:
        loop = asyncio.get_running_loop()
        try:
            server, _ = await loop.create_connection(lambda: _ServerSide(pipe), *self._proxy.target)
        except OSError:
            pipe.cut()
            return
        pipe.server = server
        if self._proxy.mode == HANG:
            server.pause_reading()
        elif self._proxy.mode == DOWN:
            pipe.cut()
            return
        for data in pipe.pending:
            server.write(data)
        pipe.pending.clear()

    def data_received(self, data: bytes) -> None:
        assert self._pipe is not None
        if self._pipe.server is None:
            self._pipe.pending.append(data)
        else:
            self._pipe.server.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._pipe is not None:
            self._proxy.pipes.discard(self._pipe)
            if self._pipe.server is not None:
                self._pipe.server.close()


class DatabaseProxy:
    """127.0.0.1:port -> target, with down(), hang() and up(); close() when done."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode = UP
        self.pipes: set[_Pipe] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.refused = 0  # connections reset while down
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        serving = self._loop.create_server(lambda: _ClientSide(self), "127.0.0.1", 0)
        self._server = self._call(serving)
        self.port: int = self._server.sockets[0].getsockname()[1]

    @classmethod
    def for_url(cls, url: str) -> DatabaseProxy:
        parsed = make_url(url)
        return cls((parsed.host or "127.0.0.1", parsed.port or 5432))

    def url(self, url: str) -> str:
        """url (a PostgreSQL URL) pointed at this proxy instead of the server."""
        return (
            make_url(url)
            .set(host="127.0.0.1", port=self.port)
            .render_as_string(hide_password=False)
        )

    def _call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _set(self, mode: str) -> None:
        self.mode = mode
        for pipe in list(self.pipes):
            if mode == DOWN:
                pipe.cut()
            elif mode == HANG:
                pipe.pause()
            else:
                pipe.resume()
        if mode == DOWN:
            self.pipes.clear()

    def down(self) -> None:
        """Cut every connection (RST) and reset each new one until up()."""
        self._call(self._set(DOWN))

    def hang(self) -> None:
        """Forward nothing until up(); connections stay open, new ones are accepted."""
        self._call(self._set(HANG))

    def up(self) -> None:
        self._call(self._set(UP))

    def connections(self) -> int:
        return len(self.pipes)

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            await self._set(DOWN)
            for task in list(self.tasks):
                task.cancel()

        self._call(stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
