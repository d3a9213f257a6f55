"""Draw: what is left of a pool's selection once client, health and route are known.

Pure: no I/O. A Draw is a function of the random source alone (and, for round robin, of
the pool's rotation): weighted sampling without replacement, nearest by great-circle
distance, a rotation, or a fixed list (sticky, failover to one member). Its size, how
many records every draw returns, is known before drawing, so a reply's length is too.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

from geodns.geo import Location
from geodns.pools.compile import CompiledMember, CompiledPool

EMPTY: tuple[CompiledMember, ...] = ()
FIXED, WEIGHTED, ROTATE, NEAREST = 0, 1, 2, 3


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
            return weighted_sample(members, self.weights, self.count, rng, self.cumulative)
        if kind == FIXED:
            return members  # type: ignore[return-value]
        if kind == ROTATE:
            assert self.pool is not None
            n = len(members)
            start = next(self.pool.round_robin) % n
            return tuple(members[(start + i) % n] for i in range(min(self.count, n)))
        assert self.location is not None
        return by_distance(members, self.location, self.count, rng)


NOTHING = Draw(FIXED, EMPTY)


def weighted_sample(
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


def by_distance(
    members: Sequence[CompiledMember], location: Location, count: int, rng: random.Random
) -> tuple[CompiledMember, ...]:
    """Members by great-circle distance from the client; those without coordinates last.

    The ones without coordinates (and every member, when the client has none) are in
    weighted random order, as the weighted policy would give them.
    """
    placed = [(m.member.latitude, m.member.longitude, m) for m in members]
    placed = [p for p in placed if p[0] is not None and p[1] is not None]
    if location.latitude is None or location.longitude is None or not placed:
        return weighted_sample(members, None, count, rng, None)
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
        ordered += weighted_sample(rest, None, count - len(ordered), rng, None)
    return tuple(ordered)
