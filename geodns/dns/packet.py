"""Bytes in, bytes out: decode, resolve, encode; the one place a query's failure is caught.

Pure apart from logging: no awaits, no I/O. A malformed packet gets FORMERR or is
dropped; a bug while answering gets SERVFAIL, counted, and logged at most once a
second per cause, so the server keeps serving whatever arrives.
"""

from __future__ import annotations

import logging
import random
import time
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from typing import ClassVar

from geodns.dns.authority import FORMERR, SERVFAIL, Answer, resolve
from geodns.dns.encode import encode_answer, encode_formerr, encode_servfail
from geodns.dns.query import QueryContext, Transport
from geodns.dns.wire import FormError, NotAQuery, Query, ShortHeader, decode_query
from geodns.snapshot import SnapshotHolder

log = logging.getLogger(__name__)


# answer-path latency buckets (upper bounds, seconds); one query in LATENCY_SAMPLE_EVERY is
# timed, so the clock reads cost the hot path almost nothing
LATENCY_BUCKETS_S = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2)
LATENCY_SAMPLE_EVERY = 64


@dataclass
class QueryStats:
    """Plain counters the hot path bumps; metrics.py reads them at scrape time."""

    LATENCY_BUCKETS_S: ClassVar[tuple[float, ...]] = LATENCY_BUCKETS_S
    answered: Counter[tuple[int, int, str, str]] = field(default_factory=Counter)
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


class PacketAnswerer:
    """Callable the listeners dispatch to: (packet, source address, transport) -> reply."""

    def __init__(
        self,
        holder: SnapshotHolder,
        rng: random.Random | None = None,
        stats: QueryStats | None = None,
    ) -> None:
        self.holder = holder
        self.rng = rng if rng is not None else random.Random()
        self.stats = stats if stats is not None else QueryStats()

    def __call__(self, data: bytes, source: str, transport: Transport) -> bytes | None:
        return self.respond(data, source, transport)[0]

    def respond(
        self, data: bytes, source: str, transport: Transport
    ) -> tuple[bytes | None, Query | None, Answer | None]:
        """The reply, and the decoded query and Answer behind it when there were any."""
        try:
            query = decode_query(data)
        except (ShortHeader, NotAQuery) as exc:
            self.stats.dropped[type(exc).__name__] += 1
            return None, None, None  # no ID to answer to, or a response: never answer those
        except FormError as exc:
            self.stats.answered[(FORMERR, 0, transport.value, "")] += 1
            return encode_formerr(exc), None, None  # RFC 1035 §4.1.1; question echoed if readable
        try:
            ctx = QueryContext(query, source, transport)
            answer = resolve(ctx, self.holder.current, self.rng)
            reply = encode_answer(query, answer, ctx.size_limit)
        except Exception as exc:  # a bug: still answer
            self.stats.note_failure(type(exc).__name__, exc)
            self.stats.answered[(SERVFAIL, query.qtype, transport.value, "")] += 1
            return encode_servfail(query), query, None
        self.stats.answered[(answer.rcode, query.qtype, transport.value, answer.pool or "")] += 1
        return reply, query, answer
