"""Runtime: what one serving process holds, and how it turns changes into snapshots.

Control plane: reads zone files and the store. Every change (a zone reload, a store
generation, a health transition, adaptive weights moving) ends in publish(), which
builds a new immutable Snapshot and swaps it in. A store that cannot be read leaves
the last snapshot serving.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from geodns.dns import names
from geodns.dns.fastpath import FastAnswerer
from geodns.dns.server import Listeners
from geodns.dns.zone import Zone
from geodns.dns.zonefile import ZoneLoad, load_zone_dir, merge_reload
from geodns.errors import GeodnsError, StoreUnavailable, ZoneFileError
from geodns.geo import GeoReader
from geodns.health.checker import HealthChecker, first_report_timeout_s
from geodns.health.state import HealthDecider
from geodns.pools.compile import CompiledPool
from geodns.pools.model import AddressHealth, HealthView, Pool
from geodns.settings import Settings
from geodns.snapshot import SnapshotHolder, build_snapshot, empty_snapshot
from geodns.store.repository import Store, StoreState

log = logging.getLogger(__name__)


def health_view(health: Mapping[str, AddressHealth], weights: Mapping[str, int]) -> HealthView:
    down = {address: h.reason for address, h in health.items() if h.down}
    return HealthView(frozenset(down), down, dict(weights))


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
    health: Mapping[str, AddressHealth] = field(default_factory=dict)
    store_generation: int = -1
    store_error: str | None = None
    listeners: Listeners | None = None
    answerer: FastAnswerer | None = None
    # one decider per process: flap damping must see every decision for an address
    decider: HealthDecider = field(default_factory=HealthDecider)
    checker: HealthChecker | None = None  # the main process's built-in checks
    _generation: int = 0
    _compiled: dict[Pool, CompiledPool] = field(default_factory=dict)
    _rebuild_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _background: set[asyncio.Task[None]] = field(default_factory=set)

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
            kept = any(z.source == path for z in self.zones.values())
            log.warning("zone refused file=%s kept_previous=%s\n%s", path, kept, error)
        for zone in self.zones.values():
            log.info(
                "zone loaded zone=%s serial=%d records=%d",
                zone.origin_text,
                zone.serial,
                zone.record_count(),
            )
        return load

    def reload_zones(self) -> ZoneLoad:
        load = self.load_zones()
        self.publish()
        return load

    def publish(self) -> None:
        """Build a snapshot from the current zones, pools and health, and swap it in."""
        self._generation += 1
        weights = self.checker.effective_weights() if self.checker is not None else {}
        snapshot = build_snapshot(
            self._generation,
            self.zones,
            self.pools,
            health_view(self.health, weights),
            self.geo,
            store_generation=self.store_generation,
            compiled_cache=self._compiled,
        )
        # keep compiled pools for the next build: an unchanged Pool is not compiled again
        self._compiled = {
            pool: snapshot.pools[key]
            for pool in self.pools
            if (key := names.from_text(pool.name)) in snapshot.pools
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
            state = await self._read_state()
            if state is None or state.generation == self.store_generation:
                return
            if self.checker is not None:
                added = self.checker.update(state.pools)
                if added:
                    # issue 5: a new pool's first answers wait for a first check result,
                    # bounded by one timeout, rather than answering blind
                    await self.checker.wait_first_reports(first_report_timeout_s(added))
                    state = await self._read_state() or state
            self.pools = tuple(state.pools)
            self.health = state.health
            self.store_generation = state.generation
            self.publish()

    async def _read_state(self) -> StoreState | None:
        assert self.store is not None
        try:
            state = await self.store.load_state()
        except StoreUnavailable as exc:
            if self.store_error is None:
                log.warning("store unavailable, serving the last snapshot error=%s", exc)
            self.store_error = str(exc)
            return None
        if self.store_error is not None:
            log.info("store reachable again generation=%d", state.generation)
            self.store_error = None
        return state

    def refresh_soon(self, *_: object) -> None:
        """Schedule a refresh from a synchronous callback (a health transition)."""
        task = asyncio.get_running_loop().create_task(self.refresh_from_store())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def weights_changed(self, _weights: Mapping[str, int]) -> None:
        """Adaptive weights moved: publish them (they are this node's, not the store's)."""
        self.publish()
