"""SnapshotPublisher: zones + store changes + health -> the SnapshotHolder DNS reads.

Control plane: reads zone files and the store. Every change (a zone reload, a store
generation, a health transition, adaptive weights moving) ends in publish(), which
builds a new immutable Snapshot and swaps it in. From the store it reads only what
changed since the generation it has (all of it on the first read, or when the store can
no longer tell), and the SnapshotBuilder redoes only what that touches, so one pool's
change costs the same among 100k pools as among 10. A store that cannot be read leaves
the last snapshot serving. It owns no resource: the store, geo reader and checker are
opened and closed by the app's cleanup contexts and handed in.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from geodns.dns import names
from geodns.dns.serial import serial_went_backwards
from geodns.dns.zone import Zone
from geodns.dns.zonefile import ZoneLoad, load_zone_dir, merge_reload
from geodns.dnssec.rrsig import next_week_start
from geodns.errors import GeodnsError, StoreUnavailable, ZoneFileError
from geodns.geo import GeoReader
from geodns.health.checker import HealthChecker, first_report_timeout_s
from geodns.pools.model import AddressHealth, HealthView, Pool
from geodns.snapshot import SnapshotBuilder, SnapshotHolder, empty_snapshot
from geodns.store.repository import Changes, ZoneSigning
from geodns.zone_keys import KeyRing

log = logging.getLogger(__name__)

# A full reload of this many pools or more freezes what it built (see _apply)
FREEZE_AFTER_POOLS = 10_000
SIGN_AHEAD_SLICE = 200  # signatures between two chances for the listeners (~10 ms)


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


class ChangeSource(Protocol):
    """What the publisher reads from the store: what changed since a generation."""

    async def load_changes(self, since: int) -> Changes: ...


class SnapshotPublisher:
    """Turns zones, store changes and health into snapshots, published into holder."""

    def __init__(
        self,
        zones_dir: Path,
        geo: GeoReader | None = None,
        holder: SnapshotHolder | None = None,
        *,
        dnssec_key_secret: str = "",
    ) -> None:
        self.holder = holder if holder is not None else SnapshotHolder(empty_snapshot())
        self._zones_dir = zones_dir
        self._geo = geo
        self._zones: dict[bytes, Zone] = {}
        self._zone_errors: dict[str, GeodnsError] = {}
        self.zone_load_failures: Counter[str] = Counter()  # by zone name, since start
        self._store: ChangeSource | None = None
        self._checks: HealthChecker | None = None
        self._store_generation = -1  # what the pools and health reflect; -1: read everything
        self._store_error: str | None = None
        self._health: dict[str, AddressHealth] = {}  # as read from the store
        self._down: dict[str, str] = {}  # address -> reason, of health
        self._generation = 0
        self._builder = SnapshotBuilder()
        self._rebuild_lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self._keyring = KeyRing(dnssec_key_secret)
        self._signing: tuple[ZoneSigning, ...] = ()  # every signed zone's keys, as stored
        self._key_timer: asyncio.TimerHandle | None = None
        self._signing_ahead: asyncio.Task[None] | None = None

    @property
    def store_generation(self) -> int:
        """The store generation the published pools and health reflect (-1: none read)."""
        return self._store_generation

    @property
    def zones(self) -> Mapping[bytes, Zone]:
        """The zones being served (a refused file keeps its previous data here)."""
        return self._zones

    @property
    def zone_errors(self) -> Mapping[str, GeodnsError]:
        """Each zone file the last load refused, by path."""
        return self._zone_errors

    def zone_of(self, path: str) -> str:
        """The zone a file serves (or would): the one kept from it, else its name; "*"
        for the zones directory itself (unreadable: every zone kept its data)."""
        kept = self.kept_zone(path)
        if kept is not None:
            return kept.origin_text
        name = Path(path).name
        if path == str(self._zones_dir) or not name.endswith(".zone"):
            return "*"
        return name[: -len(".zone")].rstrip(".") + "."

    def kept_zone(self, path: str) -> Zone | None:
        """The zone still served from before for a file the last load refused."""
        return next((z for z in self._zones.values() if z.source == path), None)

    @property
    def pools(self) -> tuple[Pool, ...]:
        """Every pool read from the store (served or not)."""
        return tuple(self._builder.pools.values())

    @property
    def store_reachable(self) -> bool:
        """Whether there is a store and its last read succeeded."""
        return self._store is not None and self._store_error is None

    def follow(self, store: ChangeSource | None) -> None:
        """Read pools and health from store from now on (None: stop reading any)."""
        self._store = store
        self._store_generation = -1

    def check_with(self, checks: HealthChecker | None) -> None:
        """Keep checks' targets in step with the pools, and publish its weights."""
        self._checks = checks

    def load_zones(self) -> ZoneLoad:
        """Read zones/ again, without publishing; a file that fails keeps serving its
        previous data."""
        try:
            load = load_zone_dir(self._zones_dir)
        except ZoneFileError as exc:  # the directory itself is gone: keep every zone we have
            log.warning("zones not reloaded, serving the previous data\n%s", exc)
            self._zone_errors = {str(self._zones_dir): exc}
            self.zone_load_failures.update(z.origin_text for z in self._zones.values())
            return ZoneLoad({}, {str(self._zones_dir): exc})
        previous = self._zones
        self._zones = merge_reload(previous, load)
        self._zone_errors = dict(load.errors)
        for path, error in load.errors.items():
            kept = self.kept_zone(path)
            self.zone_load_failures[self.zone_of(path)] += 1
            log.warning(
                "zone refused file=%s kept_previous=%s zone=%s serving_serial=%s\n%s",
                path,
                kept is not None,
                self.zone_of(path),
                "none" if kept is None else kept.serial,
                error,
            )
        # only what this load gave: a refused file's kept zone was not loaded (issue 12 §6)
        for zone in sorted(load.zones.values(), key=lambda z: z.origin_text):
            before = previous.get(zone.origin)
            if before is not None and serial_went_backwards(before.serial, zone.serial):
                log.warning(
                    "zone serial went backwards zone=%s serial=%d previous=%d file=%s: "
                    "secondaries and caches comparing serials (RFC 1982) keep the old "
                    "data; give it a serial above the previous one",
                    zone.origin_text,
                    zone.serial,
                    before.serial,
                    zone.source,
                )
            log.info(
                "zone loaded zone=%s serial=%d records=%d",
                zone.origin_text,
                zone.serial,
                zone.record_count(),
            )
        return load

    def reload_zones(self) -> ZoneLoad:
        """Read zones/ again and publish what it gave."""
        load = self.load_zones()
        self.publish()
        return load

    def publish(self) -> None:
        """Build a snapshot from the current zones, pools and health, and swap it in."""
        self._generation += 1
        weights = dict(self._checks.effective_weights()) if self._checks is not None else {}
        down = dict(self._down)
        self._builder.set_zones(self._zones)  # new zones place every pool again; same: no-op
        self._set_keys()
        snapshot = self._builder.build(
            self._generation,
            HealthView(frozenset(down), down, weights),
            self._geo,
            store_generation=self._store_generation,
        )
        if self.holder.publish(snapshot):
            log.info(
                "snapshot published generation=%d store_generation=%d zones=%d pools=%d",
                snapshot.generation,
                snapshot.store_generation,
                len(snapshot.zones),
                len(snapshot.pools),
            )
        self._sign_ahead()

    def close(self) -> None:
        """Stop the timers and the signing ahead (the snapshot keeps serving)."""
        if self._key_timer is not None:
            self._key_timer.cancel()
        if self._signing_ahead is not None:
            self._signing_ahead.cancel()

    def _set_keys(self) -> None:
        """The keys each signed zone uses now; a timer for the next key step (or the next
        week's signatures, geodns.dnssec.rrsig) publishes again when it is due."""
        signing = self._builder.signing
        if not self._signing and not signing.origins:
            return
        now = datetime.now(UTC)
        key_sets, next_key_step = self._keyring.key_sets(self._signing, now)
        self._builder.set_signing(key_sets)
        due = next_week_start(now.timestamp())
        if next_key_step is not None:
            due = min(due, next_key_step.timestamp())
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a build outside the event loop (a tool): nothing to wake
            return
        if self._key_timer is not None:
            self._key_timer.cancel()
        self._key_timer = loop.call_later(max(0.0, due - now.timestamp()) + 0.01, self.publish)

    def _sign_ahead(self) -> None:
        """Sign in the background, a slice at a time between queries, what the build left."""
        signing = self._builder.signing
        if not signing.pending or (self._signing_ahead and not self._signing_ahead.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return

        async def sign_ahead() -> None:
            while signing.pending:
                signing.precompute(SIGN_AHEAD_SLICE)
                await asyncio.sleep(0)  # the listeners answer between slices

        self._signing_ahead = loop.create_task(sign_ahead())

    async def refresh(self, *, everything: bool = False) -> None:
        """Read what changed in the store and publish; on failure keep serving the last
        snapshot. everything: read every pool and health row again, as after an outage."""
        if self._store is None:
            return
        async with self._rebuild_lock:
            # after an outage, everything: whatever happened to the database meanwhile
            fresh = everything or self._store_error is not None
            since = -1 if fresh else self._store_generation
            changes = await self._read_changes(since)
            if changes is None or changes.generation == since:
                return
            checks = self._checks
            if checks is not None and self._touches_checks(changes):
                added = checks.update(self._pools_after(changes))
                if added:
                    # issue 5: a new pool's first answers wait for a first check result,
                    # bounded by one timeout, rather than answering blind
                    await checks.wait_first_reports(first_report_timeout_s(added))
                    changes = await self._read_changes(since) or changes
            started = time.perf_counter()
            self._apply(changes)
            self._store_generation = changes.generation
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

    async def on_store_change(self, _generation: int | None = None) -> None:
        """The store watch's callback: a new generation is there to read."""
        await self.refresh()

    def refresh_soon(self, *_: object) -> None:
        """Schedule a refresh from a synchronous callback (a health transition)."""
        task = asyncio.get_running_loop().create_task(self.refresh())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def weights_changed(self, _weights: Mapping[str, int]) -> None:
        """Adaptive weights moved: publish them (they are this node's, not the store's)."""
        self.publish()

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
            self._health = dict(changes.health)
            self._down = {address: h.reason for address, h in self._health.items() if h.down}
            self._signing = changes.signing or ()
            self._builder.cookie_secrets = changes.cookie_secrets
            return
        if changes.signing is not None:
            self._signing = changes.signing
        if changes.cookie_secrets is not None:
            self._builder.cookie_secrets = changes.cookie_secrets
        self._builder.apply(changes.pools_changed, changes.pools_deleted)
        for address, health in changes.health.items():
            self._health[address] = health
            if health.down:
                self._down[address] = health.reason
            else:
                self._down.pop(address, None)

    async def _read_changes(self, since: int) -> Changes | None:
        assert self._store is not None
        try:
            changes = await self._store.load_changes(since)
        except StoreUnavailable as exc:
            if self._store_error is None:
                log.warning("store unavailable, serving the last snapshot error=%s", exc)
            self._store_error = str(exc)
            return None
        if self._store_error is not None:
            log.info("store reachable again generation=%d", changes.generation)
            self._store_error = None
        return changes
