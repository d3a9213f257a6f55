"""Adaptive weights: adaptive pools' members weighted by their check latency, in bounded steps.

Pure: no I/O, no clock of its own: `now` is monotonic seconds passed in.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Collection, Iterable

from geodns.pools.model import Policy, Pool


def target_weight(
    configured: int, latency_s: float, fastest_s: float, floor_fraction: float
) -> float:
    """configured x fastest / latency, within [floor_fraction x configured, configured]."""
    ratio = fastest_s / latency_s if latency_s > 0 else 1.0
    return configured * min(1.0, max(floor_fraction, ratio))


def weight_bounds(configured: int, floor_fraction: float) -> tuple[int, int]:
    """The lowest and highest effective weight allowed for a configured weight."""
    return min(configured, math.ceil(floor_fraction * configured - 1e-9)), configured


def step_weight(
    current: int, target: float, configured: int, floor_fraction: float, max_step_fraction: float
) -> int:
    """Move current toward target by at most max(1, max_step_fraction x configured), in bounds."""
    low, high = weight_bounds(configured, floor_fraction)
    cap = max(1, math.floor(max_step_fraction * configured + 1e-9))
    goal = min(high, max(low, round(target)))
    current = min(high, max(low, current))
    return current + max(-cap, min(cap, goal - current))


class AdaptiveWeights:
    """Effective weights of adaptive pools' members from their check latency.

    observe() records each successful check's latency; an address's latency is the median
    of its last `samples` (5). step(pool, ...) moves every healthy member's effective
    weight toward configured x fastest / its latency, at most max_step_fraction x
    configured per step and never outside [floor_fraction x configured, configured]; it
    steps a pool at most once per check interval. Latencies under latency_floor_s count
    as latency_floor_s: below a few milliseconds differences are noise, not capacity.
    A median, not an EWMA: with an EWMA one 25x spike dragged a member from 100 to 30
    over the following intervals; the median ignores any jitter shorter than half the
    window, and a real slowdown (three checks of five) still moves the weight, one
    bounded step per interval, so jitter on one member cannot push its load onto the
    others (DESIGN.md, the avalanche). Down and drained members keep their last value;
    new ones start at their configured weight. An address in several adaptive pools gets
    the weight computed in the first of them by name (HealthView.effective_weights is
    per address).
    """

    def __init__(
        self,
        floor_fraction: float = 0.2,
        max_step_fraction: float = 0.25,
        samples: int = 5,
        latency_floor_s: float = 0.005,
    ) -> None:
        if not (0 <= floor_fraction <= 1 and 0 < max_step_fraction <= 1 and samples >= 1):
            raise ValueError(
                "need 0 <= floor_fraction <= 1, 0 < max_step_fraction <= 1, samples >= 1"
            )
        self.floor_fraction = floor_fraction
        self.max_step_fraction = max_step_fraction
        self.samples = samples
        self.latency_floor_s = latency_floor_s
        self._samples: dict[str, deque[float]] = {}
        self._latency: dict[str, float] = {}  # address -> median of its samples
        self._weights: dict[str, dict[str, int]] = {}  # pool name -> address -> weight
        self._stepped: dict[str, float] = {}  # pool name -> when it last stepped

    def observe(self, address: str, latency_s: float) -> None:
        window = self._samples.setdefault(address, deque(maxlen=self.samples))
        window.append(max(latency_s, self.latency_floor_s))
        self._latency[address] = statistics.median_low(window)

    def latency(self, address: str) -> float | None:
        """The median of address's recent latencies in seconds (None: no sample yet)."""
        return self._latency.get(address)

    def step(self, pool: Pool, down: Collection[str], now: float) -> bool:
        """One step for pool if its check interval has passed since the last; True on change."""
        if pool.policy is not Policy.ADAPTIVE or pool.check is None:
            return False
        last = self._stepped.get(pool.name)
        if last is not None and now - last < pool.check.interval_s:
            return False
        self._stepped[pool.name] = now
        before = self._weights.get(pool.name, {})
        members = [m for m in pool.members if m.enabled and m.weight > 0]
        healthy = [m for m in members if m.address not in down]
        measured = [self._latency[m.address] for m in healthy if m.address in self._latency]
        fastest = min(measured, default=None)
        after: dict[str, int] = {}
        for m in members:
            current = before.get(m.address, m.weight)
            latency = self._latency.get(m.address)
            if m.address in down:  # excluded from answers anyway: keep its value
                low, high = weight_bounds(m.weight, self.floor_fraction)
                after[m.address] = min(high, max(low, current))
                continue
            goal = (
                float(m.weight)
                if latency is None or fastest is None
                else target_weight(m.weight, latency, fastest, self.floor_fraction)
            )
            after[m.address] = step_weight(
                current, goal, m.weight, self.floor_fraction, self.max_step_fraction
            )
        self._weights[pool.name] = after
        return after != before

    def retain(self, pools: Iterable[Pool]) -> None:
        """Forget pools that are gone or no longer adaptive, and addresses nobody checks."""
        kept = {p.name: p for p in pools if p.policy is Policy.ADAPTIVE and p.check is not None}
        for name in set(self._weights) - set(kept):
            del self._weights[name]
            self._stepped.pop(name, None)
        addresses = {m.address for p in kept.values() for m in p.members}
        for address in set(self._latency) - addresses:
            del self._latency[address], self._samples[address]

    def weights(self, pool_name: str) -> dict[str, int]:
        return dict(self._weights.get(pool_name, {}))

    def effective_weights(self) -> dict[str, int]:
        """address -> effective weight, for HealthView.effective_weights."""
        merged: dict[str, int] = {}
        for name in sorted(self._weights):
            for address, weight in self._weights[name].items():
                merged.setdefault(address, weight)
        return merged
