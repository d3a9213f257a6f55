"""Snapshot: the immutable world a query reads; SnapshotHolder: the one cell that changes.

Pure: no I/O. build_snapshot() puts zones + pools + health into a Snapshot, and
SnapshotBuilder does it again after a change by redoing only what changed;
SnapshotHolder.publish() swaps it in with one assignment, so a query sees the old
world or the new one, never a mix. A pool is compiled the first time a query asks for it
(ServedPools), so a server with 100k pools starts without compiling any.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from geodns.dns import names
from geodns.dns.cookie import CookieSecrets
from geodns.dns.zone import Node, RRset, Zone, containing_zone, placement_problem
from geodns.dnssec.publish import KEY_TYPES, SigningBuilder, ZoneKeySet
from geodns.dnssec.signed import SignedZone
from geodns.geo import GeoReader
from geodns.pools.compile import CompiledPool, compile_pool, compile_problem
from geodns.pools.model import HealthView, Pool

log = logging.getLogger(__name__)

NO_RRSETS: Mapping[int, RRset] = MappingProxyType({})  # every pool name's node: one empty map


@dataclass(frozen=True, slots=True)
class Snapshot:
    generation: int  # local and strictly increasing: publish() refuses anything older
    zones: Mapping[bytes, Zone]  # origin key -> zone, pool names already in the tree
    pools: ServedPools  # name key -> compiled pool (served ones only), compiled on first use
    health: HealthView
    geo: GeoReader | None
    store_generation: int = 0  # the database's change counter this snapshot reflects
    built_at: float = 0.0  # time.time() when built
    problems: tuple[str, ...] = ()  # pools kept in the database but not served, and why
    source_pools: tuple[Pool, ...] = field(default=(), repr=False)
    signed: Mapping[bytes, SignedZone] = field(default_factory=dict)  # origin -> how to sign
    cookie_secrets: CookieSecrets | None = None  # the store's; None: no server cookies yet


class SnapshotHolder:
    """Holds the current snapshot; the data plane reads .current once per query."""

    def __init__(self, initial: Snapshot) -> None:
        self.current = initial

    def publish(self, new: Snapshot) -> bool:
        """Swap in new unless it is not newer than the current one."""
        if new.generation <= self.current.generation:
            log.warning(
                "snapshot refused generation=%d current=%d", new.generation, self.current.generation
            )
            return False
        self.current = new
        return True


class ServedPools(Mapping[bytes, CompiledPool]):
    """One snapshot's served pools by name key, each compiled the first time it is asked for.

    The compiled forms are shared with the builder and later snapshots: an entry is used
    only while it was compiled from this snapshot's own Pool object (an unchanged pool
    keeps its compiled form, and with it its round-robin rotation, across snapshots). The
    snapshot's membership (which names are pools) is fixed when it is built.
    """

    __slots__ = ("_sources", "_compiled")

    def __init__(self, sources: Mapping[bytes, Pool], compiled: dict[bytes, CompiledPool]) -> None:
        self._sources = sources
        self._compiled = compiled

    def get(self, key: bytes, default: CompiledPool | None = None) -> CompiledPool | None:  # type: ignore[override]
        source = self._sources.get(key)
        if source is None:
            return default
        compiled = self._compiled.get(key)
        if compiled is None or compiled.pool is not source:
            # placement checked what compile_pool parses (compile_problem): this compiles
            compiled = self._compiled[key] = compile_pool(source)
        return compiled

    def __getitem__(self, key: bytes) -> CompiledPool:
        compiled = self.get(key)
        if compiled is None:
            raise KeyError(key)
        return compiled

    def __contains__(self, key: object) -> bool:
        return key in self._sources

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def sources(self) -> Mapping[bytes, Pool]:
        """The served pools as written, without compiling any."""
        return self._sources


NO_POOLS = ServedPools({}, {})


def empty_snapshot() -> Snapshot:
    return Snapshot(0, {}, NO_POOLS, HealthView(), None)


def build_snapshot(
    generation: int,
    zones: Mapping[bytes, Zone],
    pools: Iterable[Pool],
    health: HealthView,
    geo: GeoReader | None,
    *,
    store_generation: int = 0,
) -> Snapshot:
    """Place pools into the zones they live in, from nothing (SnapshotBuilder keeps what
    one build made for the next). A pool no zone can serve is left out and named in
    problems (the database keeps it: a zone reload must not orphan it for good)."""
    builder = SnapshotBuilder()
    builder.set_zones(zones)
    builder.apply(pools)
    return builder.build(generation, health, geo, store_generation=store_generation)


class SnapshotBuilder:
    """What the last snapshot was built from, so that the next one redoes only what changed.

    Mutable, and the control plane's alone: every Snapshot it returns has its own copies of
    the dicts a query reads (a 100k-entry dict copies in about a millisecond), so a query
    never sees a change that was not published. A changed pool's name is added to or
    removed from its zone's tree; pools are compiled on first use (ServedPools), and an
    unchanged pool keeps its compiled form.
    """

    def __init__(self) -> None:
        self._zones: dict[bytes, Zone] = {}  # as loaded: static names only
        self._trees: dict[bytes, PoolNames] = {}  # origin -> the zone with its pool names
        self._pools: dict[bytes, Pool] = {}  # every pool by name key, served or not
        self._served: dict[bytes, Pool] = {}  # the served ones
        self._compiled: dict[bytes, CompiledPool] = {}  # shared with every ServedPools
        self._placed: dict[bytes, bytes] = {}  # served pool key -> its zone's origin
        self._problems: dict[bytes, str] = {}  # unserved pool key -> why
        self._pools_changed = True
        self._published: tuple[ServedPools, tuple[str, ...], tuple[Pool, ...]]
        self._published = (NO_POOLS, (), ())
        self.signing = SigningBuilder()
        self.cookie_secrets: CookieSecrets | None = None  # as read from the store

    @property
    def pools(self) -> Mapping[bytes, Pool]:
        """Every pool the next build holds, by name key (served or not); do not modify."""
        return self._pools

    def set_zones(self, zones: Mapping[bytes, Zone]) -> None:
        """Serve these zones; every pool is placed again (compiled forms are kept)."""
        if zones.keys() == self._zones.keys() and all(
            zone is self._zones[origin] for origin, zone in zones.items()
        ):
            return
        self._zones = dict(zones)
        self._trees = {origin: PoolNames(zone) for origin, zone in zones.items()}
        for origin in self.signing.origins & self._trees.keys():
            self._trees[origin].set_apex(self.signing.apex_rrsets(origin))
        self._served.clear()
        self._placed.clear()
        self._problems.clear()
        for key, pool in self._pools.items():
            self._place(key, pool)
        self._pools_changed = True

    def apply(self, changed: Iterable[Pool], deleted: Iterable[str] = ()) -> None:
        """Pools created or changed, and names deleted (deletions first)."""
        for name in deleted:
            key = names.from_text(name)
            if self._pools.pop(key, None) is not None:
                self._unplace(key)
                self._compiled.pop(key, None)
                self._pools_changed = True
        for pool in changed:
            key = names.from_text(pool.name)
            before = self._pools.get(key)
            if before == pool:
                continue
            self._pools[key] = pool
            self._pools_changed = True
            self._compiled.pop(key, None)  # compiled again when a query asks for it
            if key in self._served and compile_problem(pool) is None:
                self._served[key] = pool  # served where it was: placement is by name alone
                continue
            self._unplace(key)
            self._place(key, pool)

    def set_signing(self, key_sets: Mapping[bytes, ZoneKeySet]) -> None:
        """Sign these zones (origin -> keys) from the next build; the others not."""
        before = self.signing.origins
        if not self.signing.set_keys(key_sets):
            return
        for origin in (before | self.signing.origins) & self._trees.keys():
            self._trees[origin].set_apex(self.signing.apex_rrsets(origin))

    def replace(self, pools: Iterable[Pool]) -> None:
        """Exactly these pools from now on (a full reload); unchanged ones keep their
        compiled forms."""
        pools = tuple(pools)
        kept = {names.from_text(pool.name) for pool in pools}
        gone = [self._pools[key].name for key in self._pools.keys() - kept]
        self.apply(pools, gone)

    def build(
        self,
        generation: int,
        health: HealthView,
        geo: GeoReader | None,
        *,
        store_generation: int = 0,
        now_s: float | None = None,
    ) -> Snapshot:
        """A Snapshot of the current zones and pools with this health, made at now_s
        (default: the clock); shares nothing the builder will change but the compiled
        pools and the signature tables, which only grow."""
        if self._pools_changed:
            self._published = (
                ServedPools(dict(self._served), self._compiled),
                tuple(self._problems.values()),
                tuple(self._pools.values()),
            )
            self._pools_changed = False
        served, problems, source_pools = self._published
        built_at = time.time() if now_s is None else now_s
        zones = {origin: tree.publish() for origin, tree in self._trees.items()}
        signed = self.signing.build(zones, served, built_at) if self.signing.origins else {}
        return Snapshot(
            generation,
            zones,
            served,
            health,
            geo,
            store_generation,
            built_at,
            problems,
            source_pools,
            signed,
            self.cookie_secrets,
        )

    def _place(self, key: bytes, pool: Pool) -> None:
        zone = containing_zone(self._zones, key)
        if zone is None:
            problem = f"pool {pool.name} is in no served zone: not served"
        elif (why := placement_problem(zone, key)) is not None:
            problem = f"pool {pool.name}: {why}: not served"
        elif (why := compile_problem(pool)) is not None:
            # validation keeps these out of the store; a bad row must not stop us
            problem = f"pool {pool.name}: {why}: not served"
        else:
            self._served[key] = pool
            self._placed[key] = zone.origin
            self._trees[zone.origin].add(key)
            return
        self._problems[key] = problem
        log.warning("%s", problem)

    def _unplace(self, key: bytes) -> None:
        self._problems.pop(key, None)
        origin = self._placed.pop(key, None)
        if origin is not None:
            del self._served[key]
            self._trees[origin].remove(key)


class PoolNames:
    """One zone with its served pool names present as nodes, as lookup() needs them: a pool
    name exists (NODATA, not NXDOMAIN, for its other types), and so do the names between it
    and the apex (empty non-terminals, RFC 4592 §2.2.2: they also stop wildcard synthesis).

    refs counts, for each name the pools added, the pool names at or below it, so that a
    removed pool takes away exactly the names no other pool and no zone record needs.
    """

    __slots__ = ("zone", "nodes", "refs", "served", "dirty")

    def __init__(self, zone: Zone) -> None:
        self.zone = zone  # as loaded
        self.nodes = dict(zone.nodes)
        self.refs: dict[bytes, int] = {}
        self.served = zone  # the last Zone published
        self.dirty = False

    def add(self, key: bytes) -> None:
        static, refs = self.zone.nodes, self.refs
        for name in (key, *names.ancestors(key, self.zone.origin)):
            if name in refs:
                refs[name] += 1
            elif name not in static:
                refs[name] = 1
                self.nodes[name] = Node(name, NO_RRSETS)
                self.dirty = True

    def remove(self, key: bytes) -> None:
        refs = self.refs
        for name in (key, *names.ancestors(key, self.zone.origin)):
            count = refs.get(name)
            if count == 1:
                del refs[name], self.nodes[name]
                self.dirty = True
            elif count is not None:
                refs[name] = count - 1

    def set_apex(self, rrsets: Iterable[RRset]) -> None:
        """Serve these DNSKEY/CDS/CDNSKEY RRsets at the apex instead of the zone file's own
        (none: the file's, for a zone that is not signed)."""
        origin = self.zone.origin
        static = self.zone.nodes[origin].rrsets
        extra = {rrset.rtype: rrset for rrset in rrsets}
        if extra:
            merged = {t: r for t, r in static.items() if t not in KEY_TYPES} | extra
            self.nodes[origin] = Node(origin, merged)
        else:
            self.nodes[origin] = self.zone.nodes[origin]
        self.dirty = True

    def publish(self) -> Zone:
        """The zone as it stands; a new Zone (with its own copy of the nodes) only if changed."""
        if self.dirty:
            zone = self.zone
            self.served = Zone(
                zone.origin,
                dict(self.nodes),
                zone.cuts,
                zone.source,
                zone.origin_text,
                zone.dnames,
            )
            self.dirty = False
        return self.served
