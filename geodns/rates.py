"""Rates: queries per second per pool and each member's answers over the last minute.

Control plane, pure apart from the clock it is given: sample() copies the data plane's
plain counters (QueryStats.answered, QueryStats.member_answers, the redirector's
responses) every few seconds, and the rates are differences between the newest sample
and the oldest one inside the window. Only pools and members that were answered appear
in the counters, so a sample costs what is active, not what is configured.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

WINDOW_S = 60.0
SAMPLE_EVERY_S = 5.0


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # monotonic seconds
    pools: Mapping[str, int]  # pool name -> DNS answers so far
    members: Mapping[str, int]  # "POOLNAME ADDRESS" -> DNS answers carrying it so far
    redirects: Mapping[str, int]  # pool name -> redirects (302) so far


def sample_of(
    at: float,
    answered: Mapping[tuple[int, int, str, str], int],
    member_answers: Mapping[str, int],
    redirects: Mapping[tuple[str, str, int], int] | None = None,
) -> Sample:
    """A Sample of the counters as they stand (they keep moving: copy, then add up)."""
    pools: Counter[str] = Counter()
    for (_, _, _, pool), count in list(answered.items()):
        if pool:
            pools[pool] += count
    by_pool: Counter[str] = Counter()
    for (pool, _, status), count in list((redirects or {}).items()):
        if status == 302:
            by_pool[pool] += count
    return Sample(at, pools, dict(member_answers), by_pool)


@dataclass
class Rates:
    """Samples over the last window_s; rates over whatever part of it has been seen."""

    window_s: float = WINDOW_S
    samples: deque[Sample] = field(default_factory=deque)

    def add(self, sample: Sample) -> None:
        samples = self.samples
        samples.append(sample)
        # keep one sample at or before the window's start, so a full window is measurable
        while len(samples) > 2 and samples[1].at <= sample.at - self.window_s:
            samples.popleft()

    @property
    def span_s(self) -> float:
        """Seconds the rates cover (0: not two samples yet)."""
        if len(self.samples) < 2:
            return 0.0
        return self.samples[-1].at - self.samples[0].at

    def pool_qps(self, pool: str) -> float | None:
        """DNS answers per second for pool over the span; None before two samples."""
        return self._rate(lambda s: s.pools.get(pool, 0))

    def redirects_ps(self, pool: str) -> float | None:
        return self._rate(lambda s: s.redirects.get(pool, 0))

    def member_answers(self, pool: str, address: str) -> int | None:
        """DNS answers that carried the member during the span; None before two samples."""
        if len(self.samples) < 2:
            return None
        key = f"{pool} {address}"
        first, last = self.samples[0], self.samples[-1]
        return max(0, last.members.get(key, 0) - first.members.get(key, 0))

    def _rate(self, read: Callable[[Sample], int]) -> float | None:
        span = self.span_s
        if span <= 0:
            return None
        first, last = self.samples[0], self.samples[-1]
        return max(0, read(last) - read(first)) / span
