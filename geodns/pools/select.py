"""select(): which members of a compiled pool answer this client, and the ECS scope.

Pure: no I/O, no asyncio; every decision is a function of (pool, qtype, client, health,
rng) except where the round-robin rotation starts. The API's explain endpoint runs the
same code with explain=True; the hot path builds no explanation.
"""

from __future__ import annotations

import enum
import ipaddress
import math
import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, fields, is_dataclass
from itertools import accumulate
from typing import Any

from geodns.geo import Location
from geodns.pools.compile import BITS, QTYPE_FAMILY, CompiledMember, CompiledPool, Group
from geodns.pools.model import HealthView, Policy, Rule

__all__ = [
    "Client",
    "Exclusion",
    "Explanation",
    "MemberOutcome",
    "RegionOutcome",
    "Prepared",
    "Selection",
    "prepare",
    "select",
]


@dataclass(frozen=True, slots=True)
class Client:
    """Who asks: the ECS (or source) address, already masked to source_prefix.

    source_prefix is capped at /24 (IPv4) and /56 (IPv6) for ECS, 32/128 for a query
    without ECS; 0 means no client information (RFC 7871 §7.1.2): default order, scope 0.
    location is the GeoReader's answer, or None when there is no database or the pool
    does not need one (CompiledPool.needs_location).
    """

    family: int
    address: int
    source_prefix: int
    location: Location | None = None


@dataclass(frozen=True, slots=True)
class Selection:
    """The answer: members in answer order (empty: NODATA) and the ECS scope prefix."""

    members: tuple[CompiledMember, ...]
    scope_prefix: int
    explanation: Explanation | None = None


EMPTY: tuple[CompiledMember, ...] = ()


def select(
    pool: CompiledPool,
    qtype: int,
    client: Client,
    health: HealthView,
    rng: random.Random,
    *,
    explain: bool = False,
) -> Selection:
    """Pick up to max_answers members for qtype's family; same inputs and rng state, same answer."""
    if not explain:
        prepared = prepare(pool, qtype, client, health)
        return Selection(prepared.draw(rng), prepared.scope_prefix)
    trace = Trace(pool, qtype, client)
    family = QTYPE_FAMILY.get(qtype)
    if family is None or family not in pool.families:
        # no member of this family anywhere: NODATA for every client, scope 0
        return _finish(EMPTY, 0, trace)
    plan, scope = _route(pool, family, client, trace)
    picked = EMPTY
    for group in plan:
        usable, weights = _usable(pool, group, health, trace)
        if usable:
            picked, policy_scope = _pick(pool, group, usable, weights, client, rng)
            scope = max(scope, policy_scope)
            break
    else:
        if pool.fail_open:
            # every region down: answer from the first region that has eligible members,
            # ignoring health (a guess beats NODATA when the probes may be what failed)
            for group in plan:
                if group.eligible:
                    if trace is not None:
                        trace.fail_open(group)
                    picked, policy_scope = _pick(pool, group, group.eligible, None, client, rng)
                    scope = max(scope, policy_scope)
                    break
    # RFC 7871 §7.2.1: SCOPE PREFIX-LENGTH is how many leading bits of the client address
    # the answer depends on: the largest prefix among what decided (CIDR index, geo
    # network, sticky key), possibly longer than the source prefix ("not specific
    # enough"); 0 for an answer that ignores the client or a client that sent /0 (§7.1.2).
    if not pool.depends_on_client or client.source_prefix == 0:
        scope = 0
    return _finish(picked, min(scope, BITS[client.family]), trace)


def _finish(picked: tuple[CompiledMember, ...], scope: int, trace: Trace | None) -> Selection:
    if trace is None:
        return Selection(picked, scope)
    return Selection(picked, scope, trace.build(picked, scope))


def _route(
    pool: CompiledPool, family: int, client: Client, trace: Trace | None
) -> tuple[tuple[Group, ...], int]:
    """The region order for this client and the scope the rules impose.

    RFC 7871 §7.2.1: the scope is the prefix of the network that decided. A CIDR rule
    decides with its own prefix, grown past any more specific rule the client is near
    (CidrIndex). When no CIDR rule matches and country/continent rules exist, GeoIP
    decided (match or no match), so the geo network's prefix counts too.
    """
    if client.source_prefix == 0:
        if trace is not None:
            trace.route(None, "no client information (source prefix 0): default order")
        return pool.default_plan[family], 0
    scope = 0
    index = pool.cidr.get(client.family)
    if index is not None:
        match = index.find(client.address)
        scope = match.scope
        if match.rule is not None:
            if trace is not None:
                trace.route(match.rule.rule, "most specific CIDR rule")
            return match.rule.plans[family], scope
    location = client.location
    if pool.has_geo_rules and location is not None:
        scope = max(scope, location.prefix)
        rule = pool.countries.get(location.country) if location.country else None
        if rule is None and location.continent:
            rule = pool.continents.get(location.continent)
        if rule is not None:
            if trace is not None:
                trace.route(rule.rule, f"{rule.rule.kind.value} rule")
            return rule.plans[family], scope
    if trace is not None:
        trace.route(None, "default order")
    return pool.default_plan[family], scope


def _usable(
    pool: CompiledPool, group: Group, health: HealthView, trace: Trace | None
) -> tuple[Sequence[CompiledMember], list[int] | None]:
    """The members of group that may answer, and their weights (None: configured).

    Avalanche guard: when the healthy share of the eligible members is below
    min_healthy_fraction the region counts as down as a whole.
    """
    eligible = group.eligible
    adaptive = pool.adaptive and bool(health.effective_weights)
    if trace is None and not adaptive and health.down.isdisjoint(group.addresses):
        return eligible, None  # the common case: nothing down, precomputed tables apply
    down = health.down
    healthy = [m for m in eligible if m.member.address not in down]
    weights: list[int] | None = None
    usable: Sequence[CompiledMember] = healthy
    if adaptive:
        effective = health.effective_weights
        weighed = [(m, effective.get(m.member.address, m.member.weight)) for m in healthy]
        usable = [m for m, w in weighed if w > 0]
        weights = [w for _, w in weighed if w > 0]
    # healthy / eligible, not healthy < fraction * eligible: 0.3 * 10 is 3.0000000000000004
    below = bool(eligible) and len(healthy) / len(eligible) < pool.min_healthy_fraction
    if trace is not None:
        trace.region(group, health, usable, weights, below, len(healthy))
    if below:
        return EMPTY, None
    return usable, weights


# enum members read as globals: Policy.X is a slower class attribute lookup (~100 ns)
# the sticky key's width: what RFC 7871 §11.1 lets resolvers send, so ECS and source
# address clients of one network share a member
STICKY_PREFIX = {4: 24, 6: 56}

_STICKY, _NEAREST, _ROUND_ROBIN, _FAILOVER = (
    Policy.STICKY,
    Policy.NEAREST,
    Policy.ROUND_ROBIN,
    Policy.FAILOVER,
)


class Draw:
    """What is left of a selection once the client, the health and the route are known:
    a function of the random source (and, for round robin, of the rotation) alone."""

    __slots__ = ("kind", "members", "weights", "cumulative", "count", "pool", "location")

    def __init__(
        self,
        kind: int,
        members: Sequence[CompiledMember],
        count: int = 0,
        *,
        weights: Sequence[int] | None = None,
        cumulative: Sequence[int] | None = None,
        pool: CompiledPool | None = None,
        location: Location | None = None,
    ) -> None:
        self.kind = kind
        self.members = members
        self.count = count
        self.weights = weights
        self.cumulative = cumulative
        self.pool = pool
        self.location = location

    @property
    def size(self) -> int:
        """How many members every draw returns."""
        if self.kind == FIXED:
            return len(self.members)
        return min(self.count, len(self.members))

    def __call__(self, rng: random.Random) -> tuple[CompiledMember, ...]:
        kind, members = self.kind, self.members
        if kind == WEIGHTED:
            return _weighted(members, self.weights, self.count, rng, self.cumulative)
        if kind == FIXED:
            return members  # type: ignore[return-value]
        if kind == ROTATE:
            assert self.pool is not None
            n = len(members)
            start = next(self.pool.round_robin) % n
            return tuple(members[(start + i) % n] for i in range(min(self.count, n)))
        assert self.location is not None
        return _nearest(members, self.location, self.count, rng)


FIXED, WEIGHTED, ROTATE, NEAREST = 0, 1, 2, 3
NOTHING = Draw(FIXED, EMPTY)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A selection for one (pool, qtype, client, health): draw(rng) gives the members."""

    draw: Draw
    scope_prefix: int


def prepare(pool: CompiledPool, qtype: int, client: Client, health: HealthView) -> Prepared:
    """Everything select() decides before it needs the random source.

    The hot path keeps a Prepared per client for as long as its snapshot lives (the
    health in it cannot change), so repeated queries only draw.
    """
    family = QTYPE_FAMILY.get(qtype)
    if family is None or family not in pool.families:
        return Prepared(NOTHING, 0)  # no member of this family anywhere: NODATA, scope 0
    plan, scope = _route(pool, family, client, None)
    draw = NOTHING
    for group in plan:
        usable, weights = _usable(pool, group, health, None)
        if usable:
            draw, policy_scope = _prepare_pick(pool, group, usable, weights, client)
            scope = max(scope, policy_scope)
            break
    else:
        if pool.fail_open:  # every region down: the first region with eligible members
            for group in plan:
                if group.eligible:
                    draw, policy_scope = _prepare_pick(pool, group, group.eligible, None, client)
                    scope = max(scope, policy_scope)
                    break
    if not pool.depends_on_client or client.source_prefix == 0:
        scope = 0
    return Prepared(draw, min(scope, BITS[client.family]))


def _pick(
    pool: CompiledPool,
    group: Group,
    usable: Sequence[CompiledMember],
    weights: list[int] | None,
    client: Client,
    rng: random.Random,
) -> tuple[tuple[CompiledMember, ...], int]:
    draw, scope = _prepare_pick(pool, group, usable, weights, client)
    return draw(rng), scope


def _prepare_pick(
    pool: CompiledPool,
    group: Group,
    usable: Sequence[CompiledMember],
    weights: list[int] | None,
    client: Client,
) -> tuple[Draw, int]:
    """The pool's policy over a non-empty usable list: (what to draw, the scope it needs).

    When usable is group.eligible itself nothing was excluded, so the group's precomputed
    tables (cumulative weights, failover tiers, the ring without exclusions) apply.
    """
    policy, count = pool.policy, pool.max_answers
    every = usable is group.eligible
    if policy is _STICKY and group.ring is not None:
        # the client network: the address masked to /24 (IPv4) or /56 (IPv6), or to the
        # source prefix when that is shorter. Never the GeoIP network: that can be a whole
        # country (or an unallocated /5), and hashing it would pin all of it to one member.
        # The answer depends on exactly these bits, so they are the scope (RFC 7871 §7.2.1).
        bits = BITS[client.family]
        prefix = min(client.source_prefix, STICKY_PREFIX[client.family])
        network = client.address >> (bits - prefix) << (bits - prefix) if prefix else 0
        allowed = None if every else {m.index for m in usable}
        found = group.ring.walk(network << 8 | prefix, allowed, count)
        return Draw(FIXED, tuple(pool.members[i] for i in found)), prefix
    if policy is _NEAREST and pool.uses_coordinates and client.location is not None:
        # geo decided even when it found no coordinates for the client (then: weighted)
        location = client.location
        return Draw(NEAREST, usable, count, location=location), location.prefix
    if policy is _ROUND_ROBIN:
        return Draw(ROTATE, tuple(usable), count, pool=pool), 0
    if policy is _FAILOVER:
        for tier in group.tiers:
            if every:
                return Draw(WEIGHTED, tier.members, count, cumulative=tier.cumulative), 0
            members = [m for m in usable if m.member.priority == tier.priority]
            if members:
                return Draw(WEIGHTED, members, count), 0
        return NOTHING, 0
    # weighted; adaptive (weights are the effective ones); nearest without coordinates
    cumulative = group.cumulative if every and weights is None else None
    return Draw(WEIGHTED, usable, count, weights=weights, cumulative=cumulative), 0


def _weighted(
    members: Sequence[CompiledMember],
    weights: Sequence[int] | None,
    count: int,
    rng: random.Random,
    cumulative: Sequence[int] | None,
) -> tuple[CompiledMember, ...]:
    """Weighted random sample without replacement (successive draws), count at most."""
    if len(members) == 1:
        return (members[0],)
    if count == 1:
        if cumulative is None:
            cumulative = list(accumulate(weights or [m.member.weight for m in members]))
        i = bisect_right(cumulative, rng.random() * cumulative[-1])
        return (members[min(i, len(members) - 1)],)
    if weights is None:
        weights = [m.member.weight for m in members]
    left, left_weights = list(members), list(weights)
    total = sum(left_weights)
    out: list[CompiledMember] = []
    while left and len(out) < count:
        point = rng.random() * total
        j = 0
        for j, weight in enumerate(left_weights):  # noqa: B007 (j is used after the loop)
            point -= weight
            if point < 0:
                break
        out.append(left.pop(j))
        total -= left_weights.pop(j)
    return tuple(out)


def _nearest(
    members: Sequence[CompiledMember], location: Location, count: int, rng: random.Random
) -> tuple[CompiledMember, ...]:
    """Members by great-circle distance from the client; those without coordinates last.

    The ones without coordinates (and every member, when the client has none) are in
    weighted random order, as the weighted policy would give them.
    """
    placed = [(m.member.latitude, m.member.longitude, m) for m in members]
    placed = [p for p in placed if p[0] is not None and p[1] is not None]
    if location.latitude is None or location.longitude is None or not placed:
        return _weighted(members, None, count, rng, None)
    lat, lon = math.radians(location.latitude), math.radians(location.longitude)
    cos_lat = math.cos(lat)
    by_distance = []
    for mlat_deg, mlon_deg, m in placed:
        mlat, mlon = math.radians(mlat_deg or 0.0), math.radians(mlon_deg or 0.0)
        # haversine: the central angle, which orders members as the distance does
        h = (
            math.sin((mlat - lat) / 2) ** 2
            + cos_lat * math.cos(mlat) * math.sin((mlon - lon) / 2) ** 2
        )
        by_distance.append((math.asin(min(1.0, math.sqrt(h))), m.index, m))
    by_distance.sort(key=lambda item: item[:2])  # ties keep member order
    ordered = [m for _, _, m in by_distance[:count]]
    if len(ordered) < count and len(placed) < len(members):
        chosen = {m.index for _, _, m in placed}
        rest = [m for m in members if m.index not in chosen]
        ordered += _weighted(rest, None, count - len(ordered), rng, None)
    return tuple(ordered)


# -- explain: built only when asked, by the same code path as the answer -------------


@dataclass(frozen=True, slots=True)
class MemberOutcome:
    address: str
    configured_weight: int
    effective_weight: int
    priority: int
    status: str  # "selected", "usable", "disabled", "weight 0", "down: <reason>", ...


@dataclass(frozen=True, slots=True)
class Exclusion:
    address: str
    reason: str


@dataclass(frozen=True, slots=True)
class RegionOutcome:
    region: str | None  # None: every member (no default_regions)
    outcome: str
    members: tuple[MemberOutcome, ...]


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why select() answered as it did: location, rule, regions tried, exclusions, scope."""

    pool: str
    qtype: int
    family: int
    client: str  # "81.2.69.0/24"
    location: Location | None
    rule: Rule | None  # None: default order
    rule_reason: str
    policy: str
    regions: tuple[RegionOutcome, ...]
    excluded: tuple[Exclusion, ...]
    fail_open: bool
    selected: tuple[str, ...]
    scope_prefix: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data for the API's explain endpoint (lists, strings, numbers, None)."""
        plain = _plain(self)
        assert isinstance(plain, dict)
        return plain


def _plain(value: object) -> object:
    if isinstance(value, enum.Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


_Row = tuple[CompiledMember, int, str]  # member, effective weight, status


class Trace:
    """Collects the decisions of one select(explain=True) call, then freezes them."""

    def __init__(self, pool: CompiledPool, qtype: int, client: Client) -> None:
        self.pool, self.qtype, self.client = pool, qtype, client
        self.rule: Rule | None = None
        self.rule_reason = ""
        self.regions: list[tuple[Group, str, list[_Row]]] = []
        self.used_fail_open = False

    def route(self, rule: Rule | None, reason: str) -> None:
        self.rule, self.rule_reason = rule, reason

    def region(
        self,
        group: Group,
        health: HealthView,
        usable: Sequence[CompiledMember],
        weights: list[int] | None,
        below: bool,
        healthy: int,
    ) -> None:
        fraction = self.pool.min_healthy_fraction
        usable_at = {m.index for m in usable}
        rows: list[_Row] = []
        for m in group.members:
            address = m.member.address
            effective = health.effective_weights.get(address, m.member.weight)
            if self.pool.policy is not Policy.ADAPTIVE:
                effective = m.member.weight
            if not m.member.enabled:
                status = "disabled"
            elif m.member.weight == 0:
                status = "weight 0"
            elif address in health.down:
                status = f"down: {health.reasons.get(address, '') or 'reported down'}"
            elif m.index not in usable_at:
                status = "effective weight 0"
            elif below:
                status = "region below min_healthy_fraction"
            else:
                status = "usable"
            rows.append((m, effective, status))
        if not group.members:
            outcome = "no members of this address family"
        elif not group.eligible:
            outcome = "no enabled member with weight > 0"
        elif below:
            outcome = (
                f"down: {healthy} of {len(group.eligible)} healthy, "
                f"below min_healthy_fraction {fraction:g}"
            )
        elif not usable:
            outcome = "down: no usable member"
        else:
            outcome = "answered"
        self.regions.append((group, outcome, rows))

    def fail_open(self, group: Group) -> None:
        self.used_fail_open = True
        rows = [(m, m.member.weight, "usable (fail_open)") for m in group.eligible]
        self.regions.append((group, "fail_open: every region down, answered ignoring health", rows))

    def build(self, picked: tuple[CompiledMember, ...], scope: int) -> Explanation:
        client, pool = self.client, self.pool
        chosen = {m.index for m in picked}
        regions = []
        excluded: list[Exclusion] = []
        for group, outcome, rows in self.regions:
            outcomes = []
            for m, effective, status in rows:
                if m.index in chosen:
                    status = "selected"
                elif status not in ("usable", "usable (fail_open)"):
                    excluded.append(Exclusion(m.member.address, status))
                member = m.member
                outcomes.append(
                    MemberOutcome(member.address, member.weight, effective, member.priority, status)
                )
            regions.append(RegionOutcome(group.region, outcome, tuple(outcomes)))
        family = QTYPE_FAMILY.get(self.qtype)
        for m in pool.members:
            if m.member.family != family:
                excluded.append(Exclusion(m.member.address, "other address family"))
        return Explanation(
            pool=pool.pool.name,
            qtype=self.qtype,
            family=family or 0,
            client=_network_text(client),
            location=client.location,
            rule=self.rule,
            rule_reason=self.rule_reason or "no member of this address family",
            policy=pool.policy.value,
            regions=tuple(regions),
            excluded=tuple(excluded),
            fail_open=self.used_fail_open,
            selected=tuple(m.member.address for m in picked),
            scope_prefix=scope,
        )


def _network_text(client: Client) -> str:
    bits = BITS[client.family]
    shift = bits - client.source_prefix
    address = client.address >> shift << shift if client.source_prefix else 0
    text = ipaddress.IPv4Address(address) if client.family == 4 else ipaddress.IPv6Address(address)
    return f"{text}/{client.source_prefix}"
