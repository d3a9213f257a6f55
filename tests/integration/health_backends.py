"""Real backends for the health tests: HTTP(S) and TCP servers on loopback addresses.

Linux routes all of 127.0.0.0/8 to lo, so each backend gets its own address (127.0.0.2,
127.0.0.3, ...) like the members of a pool. Each is proven listening before start()
returns; stop() closes it (connections are then refused) and start() again reopens it on
the same port. start_on_one_port() gives several the one port a pool's check names, and
BackendLoop runs them for synchronous tests (the e2e tests beside a geodns process).
"""

from __future__ import annotations

import asyncio
import errno
import ssl
import subprocess
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")


@dataclass
class HttpBackend:
    """An aiohttp server answering every GET with status/body after delay_s."""

    host: str
    status: int = 200
    body: bytes = b"ok"
    delay_s: float = 0.0
    ssl_context: ssl.SSLContext | None = None
    port: int = 0
    requests: list[dict[str, str]] = field(default_factory=list)  # headers of each request
    _runner: web.AppRunner | None = None

    async def start(self) -> HttpBackend:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.host, self.port, ssl_context=self.ssl_context, reuse_address=True
        )
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path_qs, **request.headers})
        if self.delay_s:
            await asyncio.sleep(self.delay_s)  # the backend is slow, not the test
        return web.Response(status=self.status, body=self.body)


class _AcceptAndClose(asyncio.Protocol):
    def __init__(self, backend: TcpBackend) -> None:
        self._backend = backend

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # closed here, at accept, not in a task that a stopping loop may cancel before it
        # runs (which leaves the transport unclosed: a ResourceWarning, an error here)
        self._backend.accepted += 1
        transport.close()


@dataclass
class TcpBackend:
    """A listener that accepts and closes every connection, counting them."""

    host: str
    port: int = 0
    accepted: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> TcpBackend:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _AcceptAndClose(self), self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


Backend = HttpBackend | TcpBackend


async def start_on_one_port(backends: Sequence[Backend], attempts: int = 20) -> int:
    """Start backends on one port that is free on every one of their addresses (a pool's
    check names one port for all its members); the port. Retries with another port when
    a later address has the first one's port taken."""
    for _ in range(attempts):
        first, *rest = backends
        first.port = 0
        await first.start()
        started: list[Backend] = [first]
        try:
            for backend in rest:
                backend.port = first.port
                await backend.start()
                started.append(backend)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            for backend in started:
                await backend.stop()
            continue
        return first.port
    raise AssertionError(f"no port free on all of {[b.host for b in backends]}")


class BackendLoop:
    """An event loop on a thread of its own, for tests that are not coroutines: call()
    runs a coroutine there (start, stop a backend) and returns its result.
    stop_running() stops every backend start() started; close() also ends the loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.running: list[Backend] = []
        self._thread = threading.Thread(target=self.loop.run_forever, name="backends")
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout_s: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout_s)

    def start(self, *backends: Backend) -> int:
        """Start backends on one port (start_on_one_port); they stop in close()."""
        port = self.call(start_on_one_port(backends))
        self.running.extend(backends)
        return port

    def stop_running(self) -> None:
        """Stop every backend start() started (a test's clean-up); the loop goes on."""

        async def stop_all() -> None:
            for backend in self.running:
                await backend.stop()

        self.call(stop_all())
        self.running.clear()

    def close(self) -> None:
        async def cancel_rest() -> None:
            current = asyncio.current_task()
            rest = [task for task in asyncio.all_tasks() if task is not current]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        try:
            self.stop_running()
            self.call(cancel_rest())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


def self_signed(directory: Path, name: str = "backend.test", ip: str = "127.0.0.1") -> Path:
    """A self-signed certificate and key (one PEM file) for name and ip, made by openssl."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name},IP:{ip}",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    both = directory / "both.pem"
    both.write_bytes(cert.read_bytes() + key.read_bytes())
    return both


def server_context(pem: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pem)
    return context
