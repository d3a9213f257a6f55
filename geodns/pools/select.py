"""select(): which members of a compiled pool answer this client, and the ECS scope.

Pure: no I/O, no asyncio; every decision is a function of (pool, qtype, client, health,
rng) except where the round-robin rotation starts. prepare() decides everything but the
draw (route.py, usable.py, the policy below); the answer path keeps that Prepared and
draws per reply. The API's explain endpoint runs the same prepare() with a Trace.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from geodns.dns.edns import CLIENT_PREFIX_CAP
from geodns.pools.compile import BITS, QTYPE_FAMILY, CompiledMember, CompiledPool, Group
from geodns.pools.draw import FIXED, NEAREST, NOTHING, ROTATE, WEIGHTED, Draw
from geodns.pools.explain import Explanation, Trace
from geodns.pools.model import Client, HealthView, Policy
from geodns.pools.route import route
from geodns.pools.usable import usable_members

__all__ = ["Client", "Prepared", "Selection", "prepare", "select"]


@dataclass(frozen=True, slots=True)
class Selection:
    """The answer: members in answer order (empty: NODATA) and the ECS scope prefix."""

    members: tuple[CompiledMember, ...]
    scope_prefix: int
    explanation: Explanation | None = None


@dataclass(frozen=True, slots=True)
class Prepared:
    """A selection for one (pool, qtype, client, health): draw(rng) gives the members."""

    draw: Draw
    scope_prefix: int


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
    trace = Trace(pool, qtype, client) if explain else None
    prepared = prepare(pool, qtype, client, health, trace)
    picked = prepared.draw(rng)
    if trace is None:
        return Selection(picked, prepared.scope_prefix)
    return Selection(picked, prepared.scope_prefix, trace.build(picked, prepared.scope_prefix))


def prepare(
    pool: CompiledPool,
    qtype: int,
    client: Client,
    health: HealthView,
    trace: Trace | None = None,
) -> Prepared:
    """Everything select() decides before it needs the random source.

    The answer path keeps a Prepared per client network for as long as its snapshot lives
    (the health in it cannot change), so repeated queries only draw.
    """
    family = QTYPE_FAMILY.get(qtype)
    if family is None or family not in pool.families:
        return Prepared(NOTHING, 0)  # no member of this family anywhere: NODATA, scope 0
    plan, scope = route(pool, family, client, trace)
    draw = NOTHING
    for group in plan:
        usable, weights = usable_members(pool, group, health, trace)
        if usable:
            draw, policy_scope = _policy_draw(pool, group, usable, weights, client)
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
                    draw, policy_scope = _policy_draw(pool, group, group.eligible, None, client)
                    scope = max(scope, policy_scope)
                    break
    # RFC 7871 §7.2.1: SCOPE PREFIX-LENGTH is how many leading bits of the client address
    # the answer depends on: the largest prefix among what decided (CIDR index, geo
    # network, sticky key); 0 for an answer that ignores the client or a client that sent
    # /0 (§7.1.2). Never more than the source prefix the decision was made on: a /32 ECS
    # source is decided on its /24 (CLIENT_PREFIX_CAP), so the answer may claim that /24
    # and nothing narrower, which would name addresses the decision did not look at.
    if not pool.depends_on_client or client.source_prefix == 0:
        scope = 0
    return Prepared(draw, min(scope, client.source_prefix, BITS[client.family]))


# enum members read as globals: Policy.X is a slower class attribute lookup (~100 ns)
_STICKY, _NEAREST, _ROUND_ROBIN, _FAILOVER = (
    Policy.STICKY,
    Policy.NEAREST,
    Policy.ROUND_ROBIN,
    Policy.FAILOVER,
)


def _policy_draw(
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
        prefix = min(client.source_prefix, CLIENT_PREFIX_CAP[client.family])
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
