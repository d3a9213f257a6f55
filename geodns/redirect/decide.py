"""(Snapshot, pool, client address, request target) -> Decision: where a redirect sends a client.

Pure: no I/O, no awaits. The choice is the DNS path's own: prepare() and its draw over the
compiled pool, with the HTTP client's address as the client (source prefix /32 or /128,
as for a query without ECS), so rules, GeoIP, health, weights, the policy (sticky keys
on the client's /24 or /56), the region-down guard and fail-open all apply as in DNS.
The member drawn first is the Location; the others the pool's max_answers brings are
alternates (RFC 6249 Link rel=duplicate).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import NamedTuple

from geodns.dns import names, rdatatype
from geodns.geo import Location
from geodns.pools.compile import BITS, QTYPE_FAMILY, CompiledMember, CompiledPool
from geodns.pools.explain import Explanation
from geodns.pools.model import Client
from geodns.pools.select import Prepared, prepare, select
from geodns.snapshot import Snapshot

# the client's own family first: a dual-stack pool sends an IPv6 client to an IPv6
# member, as its AAAA answer would; the other family when the first has nothing
FAMILY_ORDER = {4: (rdatatype.A, rdatatype.AAAA), 6: (rdatatype.AAAA, rdatatype.A)}

FOUND, NOT_FOUND, UNAVAILABLE = 302, 404, 503
# bytes a Location may carry as they are; the rest of a request target is percent-encoded
_UNSAFE = re.compile(rb"[^!#-;=?-\[\]_a-z~]", re.IGNORECASE)


class Decision(NamedTuple):
    """What to answer: 302 with location and alternates, or 404/503 with a reason.

    A tuple, not a frozen dataclass: one is made per request, and a tuple is the cheapest.
    """

    status: int
    pool: str  # the pool's name ("" when the host names none)
    location: str = ""
    member: str = ""  # the address of the member behind location
    alternates: tuple[tuple[str, str], ...] = ()  # (url, address), most preferred first
    reason: str = ""  # why not 302, for the body and the log


@dataclass(frozen=True, slots=True)
class Redirectable:
    """A compiled pool's member base URLs (no trailing slash), by member index."""

    pool: CompiledPool
    bases: tuple[str, ...]  # empty: no member has a url


def host_key(host: str) -> bytes | None:
    """The wire-form name a Host header (or a path segment) names, lower case; None when
    it cannot be a pool name (an address literal, an empty or malformed name)."""
    if host.startswith("["):
        return None
    name = host.rpartition(":")[0] if ":" in host else host
    if not name or name.replace(".", "").isdigit():
        return None
    try:
        return names.from_text(name, names.ROOT)
    except ValueError:
        return None


def split_target(target: str, pool_in_path: bool) -> tuple[str | None, str]:
    """(pool name from the path, the path to append) for an origin-form request target.

    With pool_in_path, /POOL/rest?q -> ("POOL", "/rest?q"); otherwise (None, target).
    """
    if not pool_in_path:
        return None, target
    rest = target[1:]
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    pool, path = rest[:cut], rest[cut:]
    if not path.startswith("/"):
        path = "/" + path
    return pool, path


def safe_target(target: bytes) -> str:
    """The request target as Location text: bytes outside RFC 3986's set percent-encoded."""
    if _UNSAFE.search(target) is not None:
        target = _UNSAFE.sub(lambda m: b"%%%02X" % m.group(0)[0], target)
    return target.decode("ascii")


MAX_PREPARED = 65536  # per snapshot; then it starts over: bounded whatever clients come


class Redirects:
    """What the current snapshot's redirects need, built on first use and kept for as long
    as the snapshot serves: each pool's base URLs, and the prepared selection (everything
    but the random draw) per pool and client address, as the DNS path keeps one per
    resolver. A new snapshot (any change in pools or health) starts both afresh.
    """

    __slots__ = ("_snapshot", "_table", "_prepared")

    def __init__(self) -> None:
        self._snapshot: Snapshot | None = None
        self._table: dict[bytes, Redirectable] = {}
        self._prepared: dict[tuple[bytes, int, int], tuple[Prepared, ...]] = {}

    def prepared(
        self, found: Redirectable, family: int, address: int, snapshot: Snapshot
    ) -> tuple[Prepared, ...]:
        """The prepared selections to draw from, in family order (see FAMILY_ORDER)."""
        key = (found.pool.name_key, family, address)
        plans = self._prepared.get(key)
        if plans is None:
            if len(self._prepared) >= MAX_PREPARED:
                self._prepared = {}
            plans = self._prepared[key] = prepare_for(found.pool, family, address, snapshot)
        return plans

    def find(self, snapshot: Snapshot, key: bytes) -> Redirectable | None:
        if snapshot is not self._snapshot:
            self._snapshot, self._table, self._prepared = snapshot, {}, {}
        found = self._table.get(key)
        if found is not None:
            return found
        pool = snapshot.pools.get(key)
        if pool is None:
            return None
        urls = [m.member.url for m in pool.members]
        bases = tuple(u.rstrip("/") for u in urls if u) if all(urls) else ()
        found = self._table[key] = Redirectable(pool, bases)
        return found


def client_of(pool: CompiledPool, family: int, address: int, snapshot: Snapshot) -> Client:
    """The HTTP client as selection sees it: the whole address; GeoIP only when it matters."""
    location: Location | None = None
    if pool.needs_location and snapshot.geo is not None:
        location = snapshot.geo.locate(family, address)
    return Client(family, address, BITS[family], location)


def prepare_for(
    pool: CompiledPool, family: int, address: int, snapshot: Snapshot
) -> tuple[Prepared, ...]:
    """prepare() for the client at (family, address), per answer family it may be sent to."""
    client = client_of(pool, family, address, snapshot)
    return tuple(
        prepare(pool, qtype, client, snapshot.health)
        for qtype in FAMILY_ORDER[family]
        if QTYPE_FAMILY[qtype] in pool.families
    )


def decide(
    redirectable: Redirectable | None,
    pool_text: str,
    family: int,
    address: int,
    path: str,
    snapshot: Snapshot,
    rng: random.Random,
    redirects: Redirects | None = None,
) -> Decision:
    """Where to send the client at (family, address) asking for path (with its query).

    With redirects (the listener's table for this snapshot), the prepared selection is
    kept per client; without, it is prepared for this call alone.
    """
    if redirectable is None:
        return Decision(NOT_FOUND, "", reason=f"no pool {pool_text} is served here")
    pool = redirectable.pool
    name = pool.pool.name
    if not redirectable.bases:
        return Decision(
            NOT_FOUND,
            name,
            reason=f"pool {name} has no member URLs: give its members a url to redirect to them",
        )
    if redirects is not None:
        plans = redirects.prepared(redirectable, family, address, snapshot)
    else:
        plans = prepare_for(pool, family, address, snapshot)
    for plan in plans:
        chosen = plan.draw(rng)
        if chosen:
            return found(name, chosen, redirectable.bases, path)
    return unavailable(name)


def found(
    name: str, chosen: tuple[CompiledMember, ...], bases: tuple[str, ...], path: str
) -> Decision:
    first = chosen[0]
    location = bases[first.index] + path
    if len(chosen) == 1:
        return Decision(FOUND, name, location, first.member.address)
    alternates = tuple((bases[m.index] + path, m.member.address) for m in chosen[1:])
    return Decision(FOUND, name, location, first.member.address, alternates)


def unavailable(name: str) -> Decision:
    return Decision(
        UNAVAILABLE,
        name,
        reason=f"no member of pool {name} can take clients now (every one down or drained)",
    )


def explain(
    redirectable: Redirectable,
    family: int,
    address: int,
    path: str,
    snapshot: Snapshot,
    rng: random.Random,
) -> tuple[Decision, Explanation | None]:
    """decide(), with select()'s explanation of the family that answered (or the last tried)."""
    pool = redirectable.pool
    name = pool.pool.name
    if not redirectable.bases:
        return decide(redirectable, name, family, address, path, snapshot, rng), None
    client = client_of(pool, family, address, snapshot)
    why: Explanation | None = None
    for qtype in FAMILY_ORDER[family]:
        if QTYPE_FAMILY[qtype] not in pool.families:
            continue
        selection = select(pool, qtype, client, snapshot.health, rng, explain=True)
        why = selection.explanation
        if selection.members:
            return found(name, selection.members, redirectable.bases, path), why
    return unavailable(name), why
