"""Snapshot: the immutable world a query reads; SnapshotHolder: the one cell that changes.

Pure: no I/O. build_snapshot() compiles zones + pools + health into a Snapshot;
SnapshotHolder.publish() swaps it in with one assignment, so a query sees the old
world or the new one, never a mix.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from geodns.dns import names
from geodns.dns.zone import TYPE_CNAME, Zone
from geodns.geo import GeoReader
from geodns.pools.compile import CompiledPool, compile_pool
from geodns.pools.model import HealthView, Pool

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Snapshot:
    generation: int  # local and strictly increasing: publish() refuses anything older
    zones: Mapping[bytes, Zone]  # origin key -> zone, pool names already in the tree
    pools: Mapping[bytes, CompiledPool]  # name key -> compiled pool (served ones only)
    health: HealthView
    geo: GeoReader | None
    store_generation: int = 0  # the database's change counter this snapshot reflects
    built_at: float = 0.0  # time.time() when built
    problems: tuple[str, ...] = ()  # pools kept in the database but not served, and why
    source_pools: tuple[Pool, ...] = field(default=(), repr=False)


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


def empty_snapshot() -> Snapshot:
    return Snapshot(0, {}, {}, HealthView(), None)


def build_snapshot(
    generation: int,
    zones: Mapping[bytes, Zone],
    pools: Iterable[Pool],
    health: HealthView,
    geo: GeoReader | None,
    *,
    store_generation: int = 0,
    compiled_cache: Mapping[Pool, CompiledPool] | None = None,
) -> Snapshot:
    """Compile pools into the zones they live in. A pool no zone can serve is left out and
    named in problems (the database keeps it: a zone reload must not orphan it for good)."""
    compiled: dict[bytes, CompiledPool] = {}
    names_by_zone: dict[bytes, list[bytes]] = {}
    problems: list[str] = []
    pool_list = tuple(pools)
    for pool in pool_list:
        key = names.from_text(pool.name)
        zone = containing_zone(zones, key)
        if zone is None:
            problems.append(f"pool {pool.name} is in no served zone: not served")
            continue
        problem = placement_problem(zone, key)
        if problem:
            problems.append(f"pool {pool.name}: {problem}: not served")
            continue
        cached = compiled_cache.get(pool) if compiled_cache is not None else None
        compiled[key] = cached if cached is not None else compile_pool(pool)
        names_by_zone.setdefault(zone.origin, []).append(key)
    served = {
        origin: zone.with_names(names_by_zone.get(origin, ())) for origin, zone in zones.items()
    }
    for problem in problems:
        log.warning("%s", problem)
    return Snapshot(
        generation,
        served,
        compiled,
        health,
        geo,
        store_generation,
        time.time(),
        tuple(problems),
        pool_list,
    )


def containing_zone(zones: Mapping[bytes, Zone], key: bytes) -> Zone | None:
    name = key
    while True:
        zone = zones.get(name)
        if zone is not None:
            return zone
        if name == names.ROOT:
            return None
        name = names.parent(name)


def placement_problem(zone: Zone, key: bytes) -> str | None:
    """Why a pool name cannot be served from zone, or None."""
    node = zone.nodes.get(key)
    if node is not None and TYPE_CNAME in node.rrsets:
        return "the zone file has a CNAME at this name (RFC 1034 §3.6.2)"
    for cut in zone.cuts:
        if names.is_subdomain(key, cut):
            return f"below the delegation {names.to_text(cut)}"
    return None
