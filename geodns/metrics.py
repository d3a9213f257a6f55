"""Every prometheus-client metric geodns exposes, declared once, on a registry per app.

Control plane. The DNS hot path never calls prometheus-client: it bumps plain counters
(QueryStats) that ServingCollector reads at scrape time, with the snapshot's generation
and age. The API's own metrics are ordinary prometheus-client objects.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from geodns.dns import rdatatype
from geodns.dns.rcode import to_text as rcode_text

if TYPE_CHECKING:
    from geodns.redirect.service import RedirectStats
    from geodns.snapshot import Snapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# qtype label values are bounded: anything else is "other", or a flood of odd types
# would create a time series each
LABELLED_QTYPES = frozenset(
    {
        rdatatype.A,
        rdatatype.NS,
        rdatatype.CNAME,
        rdatatype.SOA,
        rdatatype.PTR,
        rdatatype.MX,
        rdatatype.TXT,
        rdatatype.AAAA,
        rdatatype.SRV,
        rdatatype.NAPTR,
        rdatatype.DS,
        rdatatype.DNSKEY,
        rdatatype.SVCB,
        rdatatype.HTTPS,
        rdatatype.SPF,
        rdatatype.AXFR,
        rdatatype.IXFR,
        rdatatype.ANY,
        rdatatype.CAA,
    }
)
# what the API's own limits stop (geodns_api_limited_total{limit}), each shown from 0
API_LIMITS = (
    "header_timeout",  # a connection closed: its request head was late (api_header_timeout_s)
    "body_timeout",  # 408: the body was late (api_body_timeout_s)
    "connections_full",  # 503: api_max_connections open, none waiting to be closed
    "connections_made_room",  # the connection waiting longest closed to let a new one in
    "json_depth",  # 400: a body nesting deeper than the limit
    "auth_lockout",  # an address reached 10 bad tokens in a minute: 429 for the window
    "auth_throttled",  # a request answered 429 during such a window
)
API_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(frozen=True, slots=True)
class ServingSources:
    """What the collector reads at scrape time: the served snapshot, the health
    transitions this node stored (None: no store yet), the DNS path's QueryStats and
    Defences (None: no listeners yet)."""

    snapshot: Callable[[], Snapshot]
    transitions: Callable[[], Mapping[str, int] | None]
    query_stats: Callable[[], object | None]
    defences: Callable[[], object | None] = lambda: None  # the DNS path's Defences
    tcp: Callable[[], object | None] = lambda: None  # the listeners' TcpConnections
    data_plane: Callable[[], str | None] = lambda: None  # None: no DNS in this app
    native_counters: Callable[[], Mapping[str, Any] | None] = lambda: None  # the C loop's
    # zone files refused since start, by zone (None: no publisher yet)
    zone_load_failures: Callable[[], Mapping[str, int] | None] = lambda: None


class Metrics:
    """One app's registry: the API's counters plus the collector over what it serves."""

    def __init__(self, sources: ServingSources | None = None) -> None:
        self.registry = CollectorRegistry()
        self.api_requests = Counter(
            "geodns_api_requests",
            "REST API requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.api_seconds = Histogram(
            "geodns_api_request_duration_seconds",
            "REST API request handling time by route template",
            ["route"],
            buckets=API_BUCKETS_S,
            registry=self.registry,
        )
        self._api_limited = Counter(
            "geodns_api_limited",
            "Connections and requests the API's limits stopped, by limit",
            ["limit"],
            registry=self.registry,
        )
        for limit in API_LIMITS:
            self._api_limited.labels(limit)
        if sources is not None:
            self.registry.register(ServingCollector(sources))

    def api_limited(self, limit: str) -> None:
        """Count one stop by an API limit (one of API_LIMITS)."""
        self._api_limited.labels(limit).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class ServingCollector(Collector):
    """Reads the DNS path's QueryStats and the current snapshot at scrape time."""

    def __init__(self, sources: ServingSources) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        sources = self._sources
        snapshot = sources.snapshot()
        yield _gauge(
            "geodns_snapshot_generation",
            "Local generation of the served snapshot",
            snapshot.generation,
        )
        yield _gauge(
            "geodns_snapshot_store_generation",
            "Database change counter the served snapshot reflects",
            snapshot.store_generation,
        )
        age = time.time() - snapshot.built_at if snapshot.built_at else 0.0
        yield _gauge(
            "geodns_snapshot_age_seconds",
            "Seconds since the served snapshot was built",
            max(age, 0.0),
        )
        yield _gauge("geodns_pools_served", "Pools in the served snapshot", len(snapshot.pools))
        yield _gauge("geodns_zones_served", "Zones in the served snapshot", len(snapshot.zones))
        yield _gauge(
            "geodns_addresses_down",
            "Addresses the served snapshot treats as down",
            len(snapshot.health.down),
        )
        stored = sources.transitions()
        if stored is not None:
            transitions = CounterMetricFamily(
                "geodns_health_transitions",
                "Address up/down changes this node stored, by new state",
                labels=["to"],
            )
            for to in ("up", "down"):
                transitions.add_metric([to], stored[to])
            yield transitions
        plane = sources.data_plane()
        if plane is not None:
            info = GaugeMetricFamily(
                "geodns_data_plane_info",
                "The data plane answering UDP queries: native (the C loop) or python",
                labels=["data_plane"],
            )
            info.add_metric([plane], 1)
            yield info
        native = sources.native_counters()
        if native is not None:
            yield from _native_metrics(native)
        refused = sources.zone_load_failures()
        if refused is not None:
            failures = CounterMetricFamily(
                "geodns_zone_load_failures",
                "Zone file loads refused (start, SIGHUP or API reload), by zone; the zone's "
                "previous data kept serving",
                labels=["zone"],
            )
            for zone, count in sorted(refused.items()):
                failures.add_metric([zone], count)
            yield failures
        stats = sources.query_stats()
        if stats is None:
            return
        yield from _query_metrics(stats)
        defences = sources.defences()
        if defences is not None:
            yield from _defence_metrics(defences)
        tcp = sources.tcp()
        if tcp is not None:
            yield from _tcp_metrics(tcp)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _native_metrics(counters: Mapping[str, Any]) -> Iterator[Metric]:
    """The C loop's table: how often it answered itself, and what it holds."""
    answered = CounterMetricFamily(
        "geodns_native_queries",
        "UDP queries the native loop answered from its table (hit) or handed to Python (miss)",
        labels=["outcome"],
    )
    answered.add_metric(["hit"], counters["hits"])
    answered.add_metric(["miss"], counters["misses"])
    yield answered
    yield _gauge("geodns_native_table_entries", "Replies in the native table", counters["entries"])
    yield _gauge(
        "geodns_native_table_bytes", "Memory the native table holds, bytes", counters["bytes"]
    )
    events = CounterMetricFamily(
        "geodns_native_events",
        "Native loop events: table evictions and resets (bounds reached), replies Python gave "
        "that could not be kept, send and receive errors",
        labels=["event"],
    )
    for event in ("evictions", "resets", "rejected", "send_errors", "recv_errors"):
        events.add_metric([event], counters[event])
    yield events


def _query_metrics(stats: Any) -> Iterator[Metric]:
    queries = CounterMetricFamily(
        "geodns_queries",
        "DNS queries answered, by rcode, qtype, transport and pool",
        labels=["rcode", "qtype", "transport", "pool"],
    )
    merged: dict[tuple[str, str, str, str], int] = {}
    for (rcode, qtype, transport, pool), count in list(stats.answered.items()):
        qtype_label = rdatatype.to_text(qtype) if qtype in LABELLED_QTYPES else "other"
        key = (rcode_text(rcode), qtype_label, transport, pool)
        merged[key] = merged.get(key, 0) + count
    for labels, count in sorted(merged.items()):
        queries.add_metric(list(labels), count)
    yield queries
    dropped = CounterMetricFamily(
        "geodns_queries_dropped", "Packets dropped unanswered, by reason", labels=["reason"]
    )
    for reason, count in sorted(stats.dropped.items()):
        dropped.add_metric([reason], count)
    yield dropped
    failures = CounterMetricFamily(
        "geodns_query_failures",
        "Queries answered SERVFAIL because of a bug, by cause",
        labels=["cause"],
    )
    for cause, count in sorted(stats.failures.items()):
        failures.add_metric([cause], count)
    yield failures
    histogram = _latency(stats)
    if histogram is not None:
        yield histogram


def _defence_metrics(defences: Any) -> Iterator[Metric]:
    """The access lists' and response rate limiting's counters (answer/defences.py)."""
    denied = CounterMetricFamily(
        "geodns_queries_denied",
        "Queries from sources dns_allow / dns_deny shut out, by what was done",
        labels=["action"],
    )
    for action, count in sorted(defences.denied.items()):
        denied.add_metric([action], count)
    yield denied
    limiter = defences.limiter
    if limiter is None:
        return
    for name, counts, what in (
        ("dropped", limiter.dropped, "dropped"),
        ("slipped", limiter.slipped, "sent truncated (or BADCOOKIE) instead"),
    ):
        family = CounterMetricFamily(
            f"geodns_rrl_{name}",
            f"UDP responses response rate limiting {what}, by category"
            " (with rrl_log_only: would have)",
            labels=["category"],
        )
        for category, count in sorted(counts.items()):
            family.add_metric([category], count)
        yield family
    yield _gauge("geodns_rrl_table_entries", "Buckets in the rate limiting table", limiter.size)


def _tcp_metrics(connections: Any) -> Iterator[Metric]:
    """DNS over TCP: open connections, those turned away and those closed to make room."""
    yield _gauge("geodns_tcp_connections", "Open DNS-over-TCP connections", len(connections))
    refused = CounterMetricFamily(
        "geodns_tcp_refused",
        "DNS-over-TCP connections closed at once, by reason (per_client: that address's "
        "cap; full: every open one was busy writing)",
        labels=["reason"],
    )
    for reason, count in sorted(connections.refused.items()):
        refused.add_metric([reason], count)
    yield refused
    yield CounterMetricFamily(
        "geodns_tcp_evicted",
        "DNS-over-TCP connections closed to make room for a new one (the longest waiting)",
        value=connections.evicted,
    )


def _latency(stats: Any) -> HistogramMetricFamily | None:
    """The answer-path latency histogram, from QueryStats.latency_counts when the DNS path
    keeps one: counts per bucket of QueryStats.LATENCY_BUCKETS_S (seconds, upper bounds),
    one more for above the last, and latency_sum_s; both over the sampled queries."""
    bounds = getattr(stats, "LATENCY_BUCKETS_S", None)
    counts = getattr(stats, "latency_counts", None)
    if bounds is None or counts is None:
        return None
    counts = list(counts)
    cumulative = 0
    buckets: list[tuple[str, float]] = []
    for bound, count in zip(bounds, counts, strict=False):
        cumulative += count
        buckets.append((repr(float(bound)), cumulative))
    buckets.append(("+Inf", sum(counts)))
    return HistogramMetricFamily(
        "geodns_answer_duration_seconds",
        "Time from packet in to reply bytes out, over a sample of queries",
        buckets=buckets,
        sum_value=float(getattr(stats, "latency_sum_s", 0.0)),
    )


class RedirectCollector(Collector):
    """The HTTP redirector's counters (RedirectStats), read at scrape time."""

    def __init__(self, stats: RedirectStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        responses = CounterMetricFamily(
            "geodns_redirects",
            "HTTP redirector responses by pool, member chosen and status (302, 404, 503, ...)",
            labels=["pool", "member", "status"],
        )
        for (pool, member, status), count in sorted(list(self._stats.responses.items())):
            responses.add_metric([pool, member, str(status)], count)
        yield responses
        failures = CounterMetricFamily(
            "geodns_redirect_failures",
            "HTTP redirector requests answered 500 because of a bug, by cause",
            labels=["cause"],
        )
        for cause, count in sorted(list(self._stats.failures.items())):
            failures.add_metric([cause], count)
        yield failures
