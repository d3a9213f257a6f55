"""A pool over a name the zone file answers with A or AAAA would answer instead of those
records, silently. The API's create and `geodns pools apply` both refuse it with this one
problem unless the operator says `replace_static: true` for that pool.

Pure: reads the zone files' own data (without pools), nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping

from geodns.dns import names, rdatatype
from geodns.dns.zone import Zone, containing_zone
from geodns.errors import Problem

REPLACE_STATIC = "replace_static"  # a pool may take a name the zone file answers
STATIC_TYPES = ((rdatatype.A, "A"), (rdatatype.AAAA, "AAAA"))


def static_problem(
    zones: Mapping[bytes, Zone], pool_name: str, where: str = "name"
) -> Problem | None:
    """The problem of a pool at pool_name when its zone file has A or AAAA there."""
    key = names.from_text(pool_name)
    zone = containing_zone(zones, key)
    node = zone.nodes.get(key) if zone is not None else None
    if zone is None or node is None:
        return None
    static = [text for rtype, text in STATIC_TYPES if rtype in node.rrsets]
    if not static:
        return None
    return Problem(
        where,
        f"{pool_name} has static {' and '.join(static)} records in {zone.source}: the "
        f'pool would answer instead of them; send "{REPLACE_STATIC}": true to mean '
        "that, or pick another name",
    )
