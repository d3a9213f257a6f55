"""The region order for a client: CIDR rules, then country, then continent, then default.

Pure: no I/O. Also says how many leading bits of the client address decided the order
(the ECS scope the rules impose, RFC 7871 §7.2.1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from geodns.pools.compile import CompiledPool, Group
from geodns.pools.model import Client

if TYPE_CHECKING:
    from geodns.pools.explain import Trace


def route(
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
