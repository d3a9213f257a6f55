"""`geodns serve --workers N`: DNS worker processes sharing the port with SO_REUSEPORT.

The main process serves DNS too, and alone runs migrations, the API and the health
checker. Each worker is `geodns serve` with the API off and the worker switch on: it
binds the same addresses (the kernel spreads queries across the sockets), builds its
own snapshot from the zone files and the database, and keeps it current by watching
the database as any node does, so every process reaches a change's generation within
the poll interval (at once with PostgreSQL's NOTIFY). A zone reload of the main process
(SIGHUP or POST /api/v1/zones/reload) reaches every worker as SIGHUP; a worker that dies
is restarted.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from geodns.endpoints import Endpoint, format_endpoint
from geodns.settings import ENV_PREFIX, Settings, as_environment

log = logging.getLogger(__name__)
RESTART_DELAY_S = 1.0


def worker_environment(
    settings: Settings, endpoints: list[Endpoint], base: Mapping[str, str]
) -> dict[str, str]:
    """The environment that makes `geodns serve` a worker of these settings.

    endpoints are the bound ones: a port 0 in the settings is the real port here.
    """
    env = {k: v for k, v in base.items() if not k.startswith("GEODNS_")}
    env.update(
        {
            "GEODNS_DNS": ",".join(format_endpoint(e) for e in endpoints),
            "GEODNS_API": "off",
            "GEODNS_ZONES": str(settings.zones),
            "GEODNS_DATABASE_URL": settings.database_url,
            "GEODNS_GEOIP_BUNDLED": "true" if settings.geoip_bundled else "false",
            "GEODNS_WORKERS": "1",
            "GEODNS_WORKER": "true",
            "GEODNS_TCP_IDLE_TIMEOUT_S": str(settings.tcp_idle_timeout_s),
            "GEODNS_TCP_MAX_CONNECTIONS": str(settings.tcp_max_connections),
            "GEODNS_POLL_INTERVAL_S": str(settings.poll_interval_s),
            "GEODNS_LOG_LEVEL": settings.log_level,
            "GEODNS_DATA_PLANE": settings.data_plane,
            "GEODNS_QUERY_LOG": "true" if settings.query_log else "false",
        }
    )
    if settings.geoip_db is not None:
        env["GEODNS_GEOIP_DB"] = settings.geoip_db
    # every other setting as the main process was given it, so a worker reads the same
    # values, and reads its TOML file again on SIGHUP as the main process does
    layers = settings.layers
    for name, value in layers.environ.items():
        env.setdefault(name, value)
    for key, value in layers.flags.items():
        env.setdefault(ENV_PREFIX + key.upper(), as_environment(key, value))
    if layers.config is not None:
        env["GEODNS_CONFIG"] = str(Path(layers.config).resolve())
    return env


class WorkerPool:
    """Starts, supervises and stops the worker processes of one main process."""

    def __init__(self, count: int, environment: dict[str, str]) -> None:
        self.count = count
        self.environment = environment
        self.processes: list[asyncio.subprocess.Process] = []
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        for index in range(self.count):
            self.processes.append(await self._spawn(index))
        self._supervisor = asyncio.create_task(self._supervise())

    async def _spawn(self, index: int) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "geodns",
            "serve",
            env=self.environment,
            stdin=asyncio.subprocess.DEVNULL,
        )
        log.info("worker started index=%d pid=%d", index, process.pid)
        return process

    async def _supervise(self) -> None:
        while not self._stopping:
            waits = {asyncio.create_task(p.wait()): i for i, p in enumerate(self.processes)}
            done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            if self._stopping:
                return
            for task in done:
                index = waits[task]
                log.warning(
                    "worker exited index=%d pid=%d code=%s, restarting",
                    index,
                    self.processes[index].pid,
                    task.result(),
                )
                await asyncio.sleep(RESTART_DELAY_S)
                if not self._stopping:
                    self.processes[index] = await self._spawn(index)

    def reload(self) -> None:
        """Pass a zone reload on as SIGHUP: each worker reloads its zone files."""
        for process in self.processes:
            if process.returncode is None:
                process.send_signal(signal.SIGHUP)

    async def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        for process in self.processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), timeout_s)
            except TimeoutError:
                log.warning("worker did not stop pid=%d, killing it", process.pid)
                process.kill()
                await process.wait()
