"""Pool -> CompiledPool: everything a query needs, computed once per snapshot.

Pure: no I/O. Record tails, member groups per (region, family), cumulative weights,
failover tiers, hash rings and the rule index are built here so that select() only
reads them.
"""

from __future__ import annotations

import ipaddress
import itertools
import socket
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate

from geodns.dns import names, rdataclass, rdatatype
from geodns.pools.hashring import HashRing, RingNode
from geodns.pools.model import MatchKind, Member, Policy, Pool, Rule

__all__ = [
    "CidrIndex",
    "CidrMatch",
    "CompiledMember",
    "CompiledPool",
    "CompiledRule",
    "Plan",
    "Group",
    "Tier",
    "compile_pool",
    "compile_problem",
]

BITS = {4: 32, 6: 128}
QTYPE_FAMILY = {rdatatype.A: 4, rdatatype.AAAA: 6}
RECORD_TYPE = {4: rdatatype.A, 6: rdatatype.AAAA}


@dataclass(frozen=True, slots=True)
class CompiledMember:
    """A member with its answer record precomputed.

    tail is TYPE CLASS TTL RDLENGTH RDATA (no owner name), as RRset.tails in dns/zone.py.
    index is the member's position in pool.members, the identity rings and traces use.
    """

    member: Member
    index: int
    tail: bytes
    # "POOLNAME ADDRESS": the answer counter's key (QueryStats.member_answers); a str, so
    # its hash is computed once, and the same for the member after a recompile
    stats_key: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Tier:
    """The eligible members of a group that share one failover priority."""

    priority: int
    members: tuple[CompiledMember, ...]
    cumulative: tuple[int, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Group:
    """The members of one region and one address family; region None is "every member".

    eligible are the enabled, non-zero-weight members: the only ones health is asked
    about. addresses is their set, so "is any of them down?" is one isdisjoint() call.
    """

    region: str | None
    family: int
    members: tuple[CompiledMember, ...]
    eligible: tuple[CompiledMember, ...]
    addresses: tuple[str, ...]
    cumulative: tuple[int, ...]  # running sum of eligible weights, for bisect
    tiers: tuple[Tier, ...] = ()  # failover only: by ascending priority
    ring: HashRing | None = None  # sticky only: eligible members' virtual nodes


class Plan:
    """A region order resolved to the groups to try, for each answer family (4 or 6).

    Two slots rather than a dict: a pool holds one per distinct region order.
    """

    __slots__ = ("v4", "v6")

    def __init__(self, v4: tuple[Group, ...], v6: tuple[Group, ...]) -> None:
        self.v4, self.v6 = v4, v6

    def __getitem__(self, family: int) -> tuple[Group, ...]:
        return self.v6 if family == 6 else self.v4


NO_GROUPS: tuple[Group, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class CompiledRule:
    """A rule with its region order resolved to groups, per answer family."""

    rule: Rule
    plans: Plan


@dataclass(frozen=True, slots=True)
class CidrMatch:
    """Where a client's walk down the CIDR trie ends: the rule it matched and the scope.

    scope is the shortest prefix of the client address inside which every address
    matches the same rule (RFC 7871 §7.2.1: the scope covers what decided the answer).
    """

    rule: CompiledRule | None
    scope: int


class CidrIndex:
    """The CIDR rules of one client family as a binary trie stored level by level.

    levels[l] maps each l-bit prefix of every rule network to the CidrMatch of a client
    whose deepest trie node is that prefix. The nodes on a client's path are a prefix-
    closed set, so the deepest one is found by binary search over the length: about
    log2(33) = 6 dict lookups for IPv4, 8 for IPv6, however many rules there are.

    A client whose path ends at depth d on a rule network with no rule below it matched
    that rule, and every other rule diverges from it above d: scope d. A path that ends
    at a node with rules below it diverges from those at bit d: scope d + 1, so that the
    scope never covers a more specific rule the client did not match: with a rule
    1.2.3.0/24, client 1.2.4.5 leaves the trie after 21 common bits, so scope 22
    (1.2.4.0/22 excludes 1.2.3.0/24; /16 would wrongly include it).
    """

    __slots__ = ("bits", "levels")

    def __init__(self, family: int, rules: Iterable[tuple[int, int, CompiledRule]]) -> None:
        self.bits = BITS[family]
        exact: dict[tuple[int, int], CompiledRule] = {}
        for network, length, rule in rules:
            exact.setdefault((length, network >> (self.bits - length)), rule)
        deepest = max((length for length, _ in exact), default=0)
        present: list[set[int]] = [set() for _ in range(deepest + 1)]
        for length, key in exact:
            for depth in range(length + 1):
                present[depth].add(key >> (length - depth))
        levels: list[dict[int, CidrMatch]] = []
        for depth, keys in enumerate(present):
            below = present[depth + 1] if depth < deepest else set()
            level: dict[int, CidrMatch] = {}
            for key in keys:
                own = exact.get((depth, key))
                inherited = levels[depth - 1][key >> 1].rule if depth else None
                best = own if own is not None else inherited
                has_below = (key << 1) in below or (key << 1 | 1) in below
                level[key] = CidrMatch(best, depth + 1 if has_below else depth)
            levels.append(level)
        self.levels = tuple(levels)

    def find(self, address: int) -> CidrMatch:
        levels, bits = self.levels, self.bits
        low, high = 0, len(levels) - 1
        while low < high:
            mid = (low + high + 1) >> 1
            if (address >> (bits - mid)) in levels[mid]:
                low = mid
            else:
                high = mid - 1
        return levels[low][address >> (bits - low)]


@dataclass(frozen=True, slots=True, eq=False)
class CompiledPool:
    """A pool ready for select(): read-only apart from the round-robin counter.

    round_robin is an itertools.count shared by every query on this snapshot. It is the
    one piece of mutable state: next() on it is atomic under the GIL, any value gives a
    correct answer (it only picks where the rotation starts), and a new snapshot starts
    a new count, which at worst repeats a member once.
    """

    pool: Pool
    name_key: bytes  # lowercase uncompressed wire name (names.from_text)
    members: tuple[CompiledMember, ...]
    families: frozenset[int]
    groups: dict[tuple[str | None, int], Group]  # (region, family) that plans name; None: all
    default_plan: Plan  # answer family -> groups in default order
    cidr: dict[int, CidrIndex]  # client family -> index of that family's CIDR rules
    countries: dict[str, CompiledRule]
    continents: dict[str, CompiledRule]
    has_geo_rules: bool
    uses_coordinates: bool  # nearest, and some member has latitude and longitude
    needs_location: bool
    depends_on_client: bool
    # copies of pool fields, one attribute read each on the query path
    policy: Policy
    adaptive: bool  # policy is ADAPTIVE: weights come from HealthView.effective_weights
    max_answers: int
    fail_open: bool
    min_healthy_fraction: float
    round_robin: itertools.count[int] = field(default_factory=itertools.count)


def compile_problem(pool: Pool) -> str | None:
    """Why compile_pool(pool) would fail, or None; cheap (no compiling), for placing 100k
    pools at start-up: the addresses and networks are the only things it parses."""
    for member in pool.members:
        try:
            socket.inet_pton(
                socket.AF_INET6 if ":" in member.address else socket.AF_INET, member.address
            )
        except OSError:
            try:
                ipaddress.ip_address(member.address)  # its message names what is wrong
            except ValueError as exc:
                return str(exc)
    for rule in pool.rules:
        if rule.kind is MatchKind.CIDR:
            try:
                ipaddress.ip_network(rule.value, strict=False)
            except ValueError as exc:
                return str(exc)
    return None


def compile_pool(pool: Pool) -> CompiledPool:
    """Build the read-only structures select() walks; raises ValueError on a bad address."""
    members = tuple(
        CompiledMember(m, i, _tail(m.address, pool.ttl), f"{pool.name} {m.address}")
        for i, m in enumerate(pool.members)
    )
    families = frozenset(m.member.family for m in members)
    # groups are built for the regions some plan names (and all members, when no default
    # order is given), once each; rules naming the same regions in the same order share
    # one plan (pools have a few region orders among many rules); read-only once built
    groups: dict[tuple[str | None, int], Group] = {}
    known_plans: dict[tuple[str, ...] | None, Plan] = {}

    def group(region: str | None, family: int) -> Group:
        found = groups.get((region, family))
        if found is None:
            chosen = [
                m
                for m in members
                if m.member.family == family and (region is None or m.member.region == region)
            ]
            found = groups[(region, family)] = _group(region, family, chosen, pool.policy)
        return found

    def plans(regions: Sequence[str] | None) -> Plan:
        ordered = None if regions is None else tuple(dict.fromkeys(regions))  # each once
        plan = known_plans.get(ordered)
        if plan is None:
            order: tuple[str | None, ...] = (None,) if ordered is None else ordered
            # a family no member has is never routed (select.prepare): no groups for it
            v4, v6 = (
                tuple(group(r, f) for r in order) if f in families else NO_GROUPS for f in (4, 6)
            )
            plan = known_plans[ordered] = Plan(v4, v6)
        return plan

    cidr_rules: dict[int, list[tuple[int, int, CompiledRule]]] = {4: [], 6: []}
    countries: dict[str, CompiledRule] = {}
    continents: dict[str, CompiledRule] = {}
    for rule in pool.rules:
        compiled = CompiledRule(rule, plans(rule.regions))
        if rule.kind is MatchKind.CIDR:
            network = ipaddress.ip_network(rule.value, strict=False)
            cidr_rules[network.version].append(
                (int(network.network_address), network.prefixlen, compiled)
            )
        elif rule.kind is MatchKind.COUNTRY:
            countries.setdefault(rule.value.upper(), compiled)
        else:
            continents.setdefault(rule.value.upper(), compiled)

    has_geo_rules = bool(countries or continents)
    uses_coordinates = pool.policy is Policy.NEAREST and any(
        m.latitude is not None and m.longitude is not None for m in pool.members
    )
    # GeoIP matters when a country/continent rule can match, or when nearest has member
    # coordinates to measure against. A nearest pool without coordinates is weighted.
    needs_location = has_geo_rules or uses_coordinates
    # Without rules every client gets the same region order; weighted, round_robin,
    # failover and adaptive then ignore who asks, so the answer has scope 0 (RFC 7871
    # §7.2.1) even with several regions. Sticky always depends on the client's network.
    depends_on_client = bool(pool.rules) or needs_location or pool.policy is Policy.STICKY
    return CompiledPool(
        pool=pool,
        name_key=names.from_text(pool.name),
        members=members,
        families=families,
        groups=groups,
        default_plan=plans(pool.default_regions),
        cidr={f: CidrIndex(f, rules) for f, rules in cidr_rules.items() if rules},
        countries=countries,
        continents=continents,
        has_geo_rules=has_geo_rules,
        uses_coordinates=uses_coordinates,
        needs_location=needs_location,
        depends_on_client=depends_on_client,
        policy=pool.policy,
        adaptive=pool.policy is Policy.ADAPTIVE,
        max_answers=pool.max_answers,
        fail_open=pool.fail_open,
        min_healthy_fraction=pool.min_healthy_fraction,
    )


def _tail(address: str, ttl: int) -> bytes:
    ip = ipaddress.ip_address(address)
    rdata = ip.packed
    return struct.pack("!HHIH", RECORD_TYPE[ip.version], rdataclass.IN, ttl, len(rdata)) + rdata


def _group(
    region: str | None, family: int, members: Sequence[CompiledMember], policy: Policy
) -> Group:
    eligible = tuple(m for m in members if m.member.enabled and m.member.weight > 0)
    tiers: tuple[Tier, ...] = ()
    if policy is Policy.FAILOVER:
        priorities = sorted({m.member.priority for m in eligible})
        tiers = tuple(
            _tier(p, tuple(m for m in eligible if m.member.priority == p)) for p in priorities
        )
    ring = None
    if policy is Policy.STICKY:
        ring = HashRing([RingNode(m.index, m.member.address, m.member.weight) for m in eligible])
    return Group(
        region=region,
        family=family,
        members=tuple(members),
        eligible=eligible,
        addresses=tuple(m.member.address for m in eligible),
        cumulative=tuple(accumulate(m.member.weight for m in eligible)),
        tiers=tiers,
        ring=ring,
    )


def _tier(priority: int, members: tuple[CompiledMember, ...]) -> Tier:
    return Tier(priority, members, tuple(accumulate(m.member.weight for m in members)))
