"""Composition root: the only module that sees both planes.

Loads zones, opens the store and the GeoIP database, builds and publishes snapshots,
starts the DNS listeners and the API, and wires signals: SIGHUP reloads zones,
SIGTERM/SIGINT stop cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from geodns.api.app import make_api
from geodns.api.keys import RUNTIME
from geodns.dns.fastpath import FastAnswerer
from geodns.dns.server import Listeners, TcpLimits, start_listeners
from geodns.dns.zone import Zone
from geodns.dns.zonefile import ZoneLoad, load_zone_dir, merge_reload
from geodns.errors import GeodnsError, StoreUnavailable, ZoneFileError
from geodns.geo import GeoReader, open_geo
from geodns.pools.compile import CompiledPool
from geodns.pools.model import AddressHealth, HealthView, Pool
from geodns.settings import Settings
from geodns.snapshot import SnapshotHolder, build_snapshot, empty_snapshot
from geodns.store.migrate import ensure_schema
from geodns.store.repository import Store, StoreState
from geodns.store.watch import watch_changes

log = logging.getLogger(__name__)


def health_view(health: Mapping[str, AddressHealth]) -> HealthView:
    down = {address: h.reason for address, h in health.items() if h.down}
    return HealthView(frozenset(down), down)


@dataclass
class Runtime:
    """Everything one serving process holds; handed to the API through an app key."""

    settings: Settings
    holder: SnapshotHolder = field(default_factory=lambda: SnapshotHolder(empty_snapshot()))
    zones: dict[bytes, Zone] = field(default_factory=dict)
    zone_errors: dict[str, GeodnsError] = field(default_factory=dict)
    geo: GeoReader | None = None
    store: Store | None = None
    pools: tuple[Pool, ...] = ()  # the last pools read from the store
    health: HealthView = field(default_factory=HealthView)
    store_generation: int = -1
    store_error: str | None = None
    listeners: Listeners | None = None
    answerer: FastAnswerer | None = None
    _generation: int = 0
    _compiled: dict[Pool, CompiledPool] = field(default_factory=dict)
    _rebuild_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def load_zones(self) -> ZoneLoad:
        """Read zones/ again; a file that fails keeps serving its previous data."""
        try:
            load = load_zone_dir(self.settings.zones)
        except ZoneFileError as exc:  # the directory itself is gone: keep every zone we have
            log.warning("zones not reloaded, serving the previous data\n%s", exc)
            return ZoneLoad({}, {str(self.settings.zones): exc})
        self.zones = merge_reload(self.zones, load)
        self.zone_errors = dict(load.errors)
        for path, error in load.errors.items():
            log.warning(
                "zone refused file=%s kept_previous=%s\n%s",
                path,
                any(z.source == path for z in self.zones.values()),
                error,
            )
        for zone in self.zones.values():
            log.info(
                "zone loaded zone=%s serial=%d records=%d",
                zone.origin_text,
                zone.serial,
                zone.record_count(),
            )
        return load

    def publish(self) -> None:
        """Build a snapshot from the current zones, pools and health, and swap it in."""
        self._generation += 1
        snapshot = build_snapshot(
            self._generation,
            self.zones,
            self.pools,
            self.health,
            self.geo,
            store_generation=self.store_generation,
            compiled_cache=self._compiled,
        )
        self._compiled = {
            pool: snapshot.pools[key]
            for pool in self.pools
            for key in [_key(pool)]
            if key in snapshot.pools
        }
        if self.holder.publish(snapshot):
            log.info(
                "snapshot published generation=%d store_generation=%d zones=%d pools=%d",
                snapshot.generation,
                snapshot.store_generation,
                len(snapshot.zones),
                len(snapshot.pools),
            )

    async def refresh_from_store(self, _generation: int | None = None) -> None:
        """Read the store and publish; on failure keep serving the last snapshot."""
        if self.store is None:
            return
        async with self._rebuild_lock:
            try:
                state: StoreState = await self.store.load_state()
            except StoreUnavailable as exc:
                if self.store_error is None:
                    log.warning("store unavailable, serving the last snapshot error=%s", exc)
                self.store_error = str(exc)
                return
            if self.store_error is not None:
                log.info("store reachable again generation=%d", state.generation)
                self.store_error = None
            if state.generation == self.store_generation:
                return
            self.pools = tuple(state.pools)
            self.health = health_view(state.health)
            self.store_generation = state.generation
            self.publish()

    def reload_zones(self) -> ZoneLoad:
        load = self.load_zones()
        self.publish()
        return load


def _key(pool: Pool) -> bytes:
    from geodns.dns import names

    return names.from_text(pool.name)


async def open_runtime(settings: Settings) -> Runtime:
    runtime = Runtime(settings)
    runtime.geo = open_geo(settings.geoip_db, bundled=settings.geoip_bundled)
    if runtime.geo is None:
        log.warning("no geoip database: every client gets the pools' default region order")
    else:
        log.info("geoip database=%s", runtime.geo.description)
    runtime.load_zones()
    runtime.publish()
    return runtime


async def open_store(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    url = runtime.settings.database_url
    await ensure_schema(url)  # refuses a database behind the code's migrations
    runtime.store = await Store.open(url)
    await runtime.refresh_from_store()
    yield
    await runtime.store.close()


async def keep_snapshot_current(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    stop = asyncio.Event()
    assert runtime.store is not None
    task = asyncio.create_task(
        watch_changes(
            runtime.store,
            runtime.settings.database_url,
            runtime.refresh_from_store,
            poll_interval_s=runtime.settings.poll_interval,
            stop=stop,
        )
    )
    yield
    stop.set()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def serve_dns(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    settings = runtime.settings
    runtime.answerer = FastAnswerer(runtime.holder)
    limits = TcpLimits(settings.tcp_idle_timeout, settings.tcp_max_connections)
    runtime.listeners = await start_listeners(
        list(settings.dns), runtime.answerer, limits=limits, reuse_port=settings.workers > 1
    )
    yield
    await runtime.listeners.close()


def make_app(runtime: Runtime) -> web.Application:
    app = make_api(runtime)
    # cleanup contexts start in this order and stop in reverse
    app.cleanup_ctx.extend([open_store, keep_snapshot_current, serve_dns])
    return app


async def serve(settings: Settings, ready: asyncio.Event | None = None) -> None:
    """Run until SIGTERM or SIGINT; SIGHUP reloads the zone files."""
    runtime = await open_runtime(settings)
    app = make_app(runtime)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()  # runs the cleanup contexts' start-up halves
    try:
        if settings.api is not None:
            host, port = settings.api
            site = web.TCPSite(runner, host, port, reuse_address=True)
            await site.start()
            for bound in runner.addresses:  # the real port when 0 asked for any
                log.info(
                    "listening api=http://%s:%d",
                    f"[{bound[0]}]" if ":" in bound[0] else bound[0],
                    bound[1],
                )
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stopping.set)
        loop.add_signal_handler(signal.SIGINT, stopping.set)
        loop.add_signal_handler(signal.SIGHUP, runtime.reload_zones)
        if ready is not None:
            ready.set()
        await stopping.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()


def default_node_name(settings: Settings) -> str:
    return settings.node_name or socket.gethostname()


def zones_dir_problem(path: Path) -> str | None:
    if not path.is_dir():
        return f"zones directory {path} does not exist"
    return None
