"""Which members of a region may answer now: enabled, weight > 0, healthy; adaptive
weights; and the region-down guard against the avalanche (DESIGN.md, Selection).

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from geodns.pools.compile import CompiledMember, CompiledPool, Group
from geodns.pools.draw import EMPTY
from geodns.pools.model import HealthView

if TYPE_CHECKING:
    from geodns.pools.explain import Trace


def usable_members(
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
