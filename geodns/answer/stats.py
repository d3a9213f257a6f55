"""QueryStats: the plain counters the query path bumps; metrics.py reads them when scraped.

Pure apart from rate-limited logging: no I/O of its own, nothing a query waits on.
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from typing import ClassVar

log = logging.getLogger(__name__)


# answer-path latency buckets (upper bounds, seconds); one query in LATENCY_SAMPLE_EVERY is
# timed, so the clock reads cost the hot path almost nothing
LATENCY_BUCKETS_S = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2)
LATENCY_SAMPLE_EVERY = 64
# the cache counts the members of one pool answer in this many (the console's share of
# answers), each count standing for this many answers: no dict update on every answer
# (callgrind, bench/pools.yaml's weighted two-answer pool: counting every answer cost 3.9k
# instructions on a 30.4k answer of the old fast path, 13%; this sample costs 0.3k on a
# 31.0k cached answer, 0.9%). The countdown that picks them is blind to the draw, so the
# sample is fair. First sights (the full path) are not counted.
MEMBER_SAMPLE_EVERY = 8


@dataclass
class QueryStats:
    """Plain counters the hot path bumps; metrics.py reads them at scrape time."""

    LATENCY_BUCKETS_S: ClassVar[tuple[float, ...]] = LATENCY_BUCKETS_S
    answered: Counter[tuple[int, int, str, str]] = field(default_factory=Counter)
    # "POOLNAME ADDRESS" (CompiledMember.stats_key) -> answers that carried the member: a
    # 1-in-MEMBER_SAMPLE_EVERY sample of the cached answers, each count worth that many
    member_answers: Counter[str] = field(default_factory=Counter)
    # per bucket, plus one for above the last
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_S) + 1))
    latency_sum_s: float = 0.0
    sample_countdown: int = LATENCY_SAMPLE_EVERY
    dropped: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    _last_logged: dict[str, float] = field(default_factory=dict)

    def observe_latency(self, seconds: float) -> None:
        self.latency_counts[bisect_left(LATENCY_BUCKETS_S, seconds)] += 1
        self.latency_sum_s += seconds

    def note_failure(self, cause: str, exc: BaseException) -> None:
        self.failures[cause] += 1
        now = time.monotonic()
        if now - self._last_logged.get(cause, 0.0) >= 1.0:
            self._last_logged[cause] = now
            log.error("query failed cause=%s count=%d", cause, self.failures[cause], exc_info=exc)
