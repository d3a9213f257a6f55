"""An immutable zone: a name tree with precomputed record bytes, and lookup().

Pure: no I/O. Built once per load (by zonefile.py, or by the snapshot builder when pool
names join the tree); a query only reads it. lookup() is RFC 1034 §4.3.2 steps
3a-3c for one zone: exact match, delegation below a cut, redirection below a DNAME
(RFC 6672 §3.2), wildcard (RFC 4592) or name error.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from geodns.dns import names, rdataclass, rdatatype

WILDCARD_LABEL = b"\x01*"

# RFC 3597 §4: only the RDATA of RFC 1035's own types may be compressed (so not SRV,
# RFC 2782, nor DNAME, RFC 6672 §2.1, nor anything later)
_ONE_NAME_TYPES = frozenset(
    {
        rdatatype.NS,
        rdatatype.MD,
        rdatatype.MF,
        rdatatype.CNAME,
        rdatatype.MB,
        rdatatype.MG,
        rdatatype.MR,
        rdatatype.PTR,
    }
)
_TWO_NAME_TYPES = frozenset({rdatatype.SOA, rdatatype.MINFO})


def name_end(wire: bytes, offset: int) -> int:
    """Offset just after the uncompressed name starting at offset."""
    while wire[offset]:
        offset += wire[offset] + 1
    return offset + 1


def compressible_names(rtype: int, rdata: bytes) -> tuple[int, ...]:
    """Offsets in rdata (stored uncompressed) of the names a message may compress."""
    if rtype in _ONE_NAME_TYPES:
        return (0,)
    if rtype == rdatatype.MX:
        return (2,)  # after the 16-bit preference
    if rtype in _TWO_NAME_TYPES:
        return (0, name_end(rdata, 0))
    return ()


@dataclass(frozen=True, slots=True)
class RRset:
    """All records of one (owner, type), with their wire bytes precomputed.

    rdatas are uncompressed wire RDATA (names in them keep the zone file's case).
    tails[i] is TYPE CLASS TTL RDLENGTH RDATA of record i: everything but the owner,
    what a reply writes when nothing in the RDATA may be compressed. names_at[i] lists
    where record i's compressible names start (empty for most types): reply.py then
    writes the RDATA itself, compressing those names.
    targets are the names additional-section processing looks up (RFC 1034 §3.6:
    NS, MX, SRV targets).
    synthesised marks a CNAME made from a DNAME for one query (RFC 6672 §3.1): it has no
    RRSIG of its own, validators synthesise it (RFC 6672 §5.3.1).
    """

    name: bytes
    rtype: int
    ttl: int
    rdatas: tuple[bytes, ...]
    targets: tuple[bytes, ...] = ()
    synthesised: bool = False
    tails: tuple[bytes, ...] = field(init=False)
    names_at: tuple[tuple[int, ...], ...] = field(init=False)

    def __post_init__(self) -> None:
        head = struct.pack("!HHI", self.rtype, rdataclass.IN, self.ttl)
        tails = tuple(head + struct.pack("!H", len(r)) + r for r in self.rdatas)
        object.__setattr__(self, "tails", tails)
        names_at = tuple(compressible_names(self.rtype, r) for r in self.rdatas)
        object.__setattr__(self, "names_at", names_at if any(names_at) else ())

    def __len__(self) -> int:
        return len(self.rdatas)

    def with_ttl(self, ttl: int) -> RRset:
        return RRset(self.name, self.rtype, ttl, self.rdatas, self.targets)

    def renamed(self, owner: bytes) -> RRset:
        return RRset(owner, self.rtype, self.ttl, self.rdatas, self.targets)


@dataclass(frozen=True, slots=True)
class Node:
    """One owner name; an empty node is an empty non-terminal (RFC 4592 §2.2.2)."""

    name: bytes
    rrsets: Mapping[int, RRset]


class Found(enum.Enum):
    EXACT = "exact"  # node is the qname's node (maybe empty: NODATA)
    WILDCARD = "wildcard"  # node is the wildcard that synthesises the qname
    DELEGATION = "delegation"  # node is the zone cut at or above qname
    DNAME = "dname"  # node owns the DNAME strictly above qname (RFC 6672 §3.2)
    NXDOMAIN = "nxdomain"


@dataclass(frozen=True, slots=True)
class Lookup:
    found: Found
    node: Node | None


@dataclass(frozen=True, slots=True)
class Zone:
    """One served zone. nodes holds every owner and every empty non-terminal."""

    origin: bytes
    nodes: Mapping[bytes, Node]
    cuts: frozenset[bytes]  # delegation points: names below the apex that own NS
    source: str = ""
    origin_text: str = ""
    dnames: frozenset[bytes] = frozenset()  # owners of a DNAME (RFC 6672), the apex too
    negative_soa: RRset = field(init=False, compare=False)

    def __post_init__(self) -> None:
        # RFC 2308 §3: the SOA of a negative answer carries min(SOA TTL, SOA MINIMUM)
        soa = self.nodes[self.origin].rrsets.get(rdatatype.SOA)
        if soa is not None:
            minimum = int(struct.unpack("!I", soa.rdatas[0][-4:])[0])
            object.__setattr__(self, "negative_soa", soa.with_ttl(min(soa.ttl, minimum)))

    @property
    def apex(self) -> Node:
        return self.nodes[self.origin]

    @property
    def soa(self) -> RRset:
        return self.apex.rrsets[rdatatype.SOA]

    @property
    def serial(self) -> int:
        return int(struct.unpack("!I", self.soa.rdatas[0][-20:-16])[0])

    def record_count(self) -> int:
        return sum(len(rrset) for node in self.nodes.values() for rrset in node.rrsets.values())

    def lookup(self, qname: bytes, qtype: int) -> Lookup:
        """Where qname (lowercase key, inside this zone) leads; RFC 1034 §4.3.2 step 3.

        Walking down from the apex, the first cut or DNAME owner above qname decides: a
        cut refers (at the cut itself too, but for DS: RFC 4035 §3.1.4.1, the parent's), a
        DNAME redirects the names below its owner, not the owner (RFC 6672 §3.2).
        """
        if self.cuts or self.dnames:
            cuts, dnames = self.cuts, self.dnames
            if qname != self.origin and self.origin in dnames:
                return Lookup(Found.DNAME, self.nodes[self.origin])
            for name in names.ancestors(qname, self.origin):
                if name in cuts:
                    return Lookup(Found.DELEGATION, self.nodes[name])
                if name in dnames:
                    return Lookup(Found.DNAME, self.nodes[name])
            if qname in cuts and qtype != rdatatype.DS:
                return Lookup(Found.DELEGATION, self.nodes[qname])
        node = self.nodes.get(qname)
        if node is not None:
            return Lookup(Found.EXACT, node)
        closest = names.parent(qname)
        while closest not in self.nodes:
            closest = names.parent(closest)
        wildcard = self.nodes.get(WILDCARD_LABEL + closest)
        if wildcard is not None:
            return Lookup(Found.WILDCARD, wildcard)
        return Lookup(Found.NXDOMAIN, None)


def build_zone(origin: bytes, rrsets: Iterable[RRset], source: str = "") -> Zone:
    """Assemble a zone from validated RRsets: adds empty non-terminals and finds cuts.

    Validation (one SOA, apex NS, CNAME exclusivity, glue) is the caller's job:
    zonefile.py reports those problems with file and line.
    """
    by_name: dict[bytes, dict[int, RRset]] = {}
    for rrset in rrsets:
        by_name.setdefault(rrset.name, {})[rrset.rtype] = rrset
    nodes: dict[bytes, Node] = {name: Node(name, types) for name, types in by_name.items()}
    nodes.setdefault(origin, Node(origin, {}))
    for name in list(by_name):
        for above in names.ancestors(name, origin):
            nodes.setdefault(above, Node(above, {}))
    cuts = frozenset(n for n, types in by_name.items() if n != origin and rdatatype.NS in types)
    dnames = frozenset(n for n, types in by_name.items() if rdatatype.DNAME in types)
    return Zone(origin, nodes, cuts, source, names.to_text(origin), dnames)


def containing_zone(zones: Mapping[bytes, Zone], key: bytes) -> Zone | None:
    """The zone whose origin is the closest enclosing name of key (a lowercase key)."""
    name = key
    while True:
        zone = zones.get(name)
        if zone is not None:
            return zone
        if name == names.ROOT:
            return None
        name = names.parent(name)


def placement_problem(zone: Zone, key: bytes) -> str | None:
    """Why a name whose A/AAAA are chosen per query (a pool) cannot live in zone, or None."""
    node = zone.nodes.get(key)
    if node is not None and rdatatype.CNAME in node.rrsets:
        return "the zone file has a CNAME at this name (RFC 1034 §3.6.2)"
    for cut in zone.cuts:
        if names.is_subdomain(key, cut):
            return f"below the delegation {names.to_text(cut)}"
    for owner in zone.dnames:
        if key != owner and names.is_subdomain(key, owner):
            # RFC 6672 §2.4: no data below a DNAME; a query there is redirected
            return f"below the DNAME at {names.to_text(owner)} (RFC 6672 §2.4)"
    return None
