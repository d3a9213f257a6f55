"""Runtime: what one serving process holds, and how it turns changes into snapshots.

Control plane: reads zone files and the store. Every change (a zone reload, a store
generation, a health transition, adaptive weights moving) ends in publish(), which
builds a new immutable Snapshot and swaps it in. From the store it reads only what
changed since the generation it has (all of it on the first read, or when the store can
no longer tell), and the SnapshotBuilder redoes only what that touches, so one pool's
change costs the same among 100k pools as among 10. A store that cannot be read leaves
the last snapshot serving.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from geodns.answer.cache import CachingAnswerer
from geodns.answer.server import Listeners
from geodns.dns import names
from geodns.dns.zone import Zone
from geodns.dns.zonefile import ZoneLoad, load_zone_dir, merge_reload
from geodns.errors import GeodnsError, StoreUnavailable, ZoneFileError
from geodns.geo import GeoReader
from geodns.health.checker import HealthChecker, HealthRecorder, first_report_timeout_s
from geodns.health.state import HealthDecider
from geodns.pools.model import AddressHealth, HealthView, Pool
from geodns.settings import Settings
from geodns.snapshot import SnapshotBuilder, SnapshotHolder, empty_snapshot
from geodns.store.repository import Changes, Store

log = logging.getLogger(__name__)

# A full reload of this many pools or more freezes what it built (see _apply)
FREEZE_AFTER_POOLS = 10_000


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cycle collector off during one synchronous burst of allocation: compiling every
    pool allocates ~80 objects each, and the collector would walk the growing heap again
    and again (40% of a 100k-pool build)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class Runtime:
    """Everything one serving process holds; handed to the API through an app key."""

    settings: Settings
    holder: SnapshotHolder = field(default_factory=lambda: SnapshotHolder(empty_snapshot()))
    zones: dict[bytes, Zone] = field(default_factory=dict)
    zone_errors: dict[str, GeodnsError] = field(default_factory=dict)
    geo: GeoReader | None = None
    store: Store | None = None
    health: dict[str, AddressHealth] = field(default_factory=dict)  # as read from the store
    store_generation: int = -1  # what the pools and health reflect; -1: read everything
    store_error: str | None = None
    listeners: Listeners | None = None
    answerer: CachingAnswerer | None = None
    # the health policy (quorum, damping) the API and the checker decide with; its
    # memory of each address is stored with the address, shared by every node
    decider: HealthDecider = field(default_factory=HealthDecider)
    checker: HealthChecker | None = None  # the main process's built-in checks
    recorder: HealthRecorder | None = None  # stores reports; redecides when one is due
    _generation: int = 0
    _builder: SnapshotBuilder = field(default_factory=SnapshotBuilder)
    _down: dict[str, str] = field(default_factory=dict)  # address -> reason, of health
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

    @property
    def pools(self) -> tuple[Pool, ...]:
        """Every pool read from the store (served or not)."""
        return tuple(self._builder.pools.values())

    def publish(self) -> None:
        """Build a snapshot from the current zones, pools and health, and swap it in."""
        self._generation += 1
        weights = self.checker.effective_weights() if self.checker is not None else {}
        down = dict(self._down)
        self._builder.set_zones(self.zones)  # new zones place every pool again; the same: no-op
        snapshot = self._builder.build(
            self._generation,
            HealthView(frozenset(down), down, dict(weights)),
            self.geo,
            store_generation=self.store_generation,
        )
        if self.holder.publish(snapshot):
            log.info(
                "snapshot published generation=%d store_generation=%d zones=%d pools=%d",
                snapshot.generation,
                snapshot.store_generation,
                len(snapshot.zones),
                len(snapshot.pools),
            )

    async def refresh_from_store(self, _generation: int | None = None) -> None:
        """Read what changed in the store and publish; on failure keep serving the last
        snapshot."""
        if self.store is None:
            return
        async with self._rebuild_lock:
            # after an outage, everything: whatever happened to the database meanwhile
            since = self.store_generation if self.store_error is None else -1
            changes = await self._read_changes(since)
            if changes is None or changes.generation == since:
                return
            if self.checker is not None and self._touches_checks(changes):
                added = self.checker.update(self._pools_after(changes))
                if added:
                    # issue 5: a new pool's first answers wait for a first check result,
                    # bounded by one timeout, rather than answering blind
                    await self.checker.wait_first_reports(first_report_timeout_s(added))
                    changes = await self._read_changes(since) or changes
            started = time.perf_counter()
            self._apply(changes)
            self.store_generation = changes.generation
            self.publish()
            log.debug(
                "store changes applied generation=%d complete=%s changed=%d deleted=%d "
                "health=%d ms=%.1f",
                changes.generation,
                changes.complete,
                len(changes.pools_changed),
                len(changes.pools_deleted),
                len(changes.health),
                (time.perf_counter() - started) * 1e3,
            )

    def _touches_checks(self, changes: Changes) -> bool:
        """Whether the checker's targets can move: a changed or deleted pool has a check
        before or after (checker.update walks every pool: not for every change)."""
        if changes.complete:
            return True
        pools = self._builder.pools
        for pool in changes.pools_changed:
            before = pools.get(names.from_text(pool.name))
            if pool.check is not None or (before is not None and before.check is not None):
                return True
        for name in changes.pools_deleted:
            before = pools.get(names.from_text(name))
            if before is not None and before.check is not None:
                return True
        return False

    def _pools_after(self, changes: Changes) -> list[Pool]:
        """Every pool as it will be once changes are applied (without applying them)."""
        if changes.complete:
            return list(changes.pools_changed)
        pools = dict(self._builder.pools)
        for name in changes.pools_deleted:
            pools.pop(names.from_text(name), None)
        for pool in changes.pools_changed:
            pools[names.from_text(pool.name)] = pool
        return list(pools.values())

    def _apply(self, changes: Changes) -> None:
        if changes.complete:
            with collector_paused():
                self._builder.replace(changes.pools_changed)
            if len(changes.pools_changed) >= FREEZE_AFTER_POOLS:
                # a full collection walks every object: ~4 s of no answers among 100k
                # pools (8.5M objects). Frozen, they are never walked again; snapshots have
                # no reference cycles, so reference counts still free the ones replaced.
                gc.freeze()
            self.health = dict(changes.health)
            self._down = {address: h.reason for address, h in self.health.items() if h.down}
            return
        self._builder.apply(changes.pools_changed, changes.pools_deleted)
        for address, health in changes.health.items():
            self.health[address] = health
            if health.down:
                self._down[address] = health.reason
            else:
                self._down.pop(address, None)

    async def _read_changes(self, since: int) -> Changes | None:
        assert self.store is not None
        try:
            changes = await self.store.load_changes(since)
        except StoreUnavailable as exc:
            if self.store_error is None:
                log.warning("store unavailable, serving the last snapshot error=%s", exc)
            self.store_error = str(exc)
            return None
        if self.store_error is not None:
            log.info("store reachable again generation=%d", changes.generation)
            self.store_error = None
        return changes

    def refresh_soon(self, *_: object) -> None:
        """Schedule a refresh from a synchronous callback (a health transition)."""
        task = asyncio.get_running_loop().create_task(self.refresh_from_store())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def weights_changed(self, _weights: Mapping[str, int]) -> None:
        """Adaptive weights moved: publish them (they are this node's, not the store's)."""
        self.publish()
