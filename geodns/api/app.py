"""The aiohttp application of the REST API: middlewares, routes and metrics, no DNS."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from geodns.answer.stats import QueryStats
from geodns.api.auth_failures import AuthFailures
from geodns.api.keys import (
    ANSWERER,
    AUTH_FAILURES,
    CLOCK,
    DATA_PLANE,
    DECIDER,
    DEPRECATIONS_LOGGED,
    LISTENERS,
    METRICS,
    NATIVE_LOOP,
    PERMISSIONS,
    PUBLISHER,
    SETTINGS,
    SNAPSHOTS,
    STORE,
)
from geodns.api.middlewares import (
    count_requests,
    error_bodies,
    hold_connection,
    read_bodies,
    request_ids,
    require_token,
)
from geodns.api.routes import ANY_ROLE, add_routes
from geodns.health.damping import FlapDamper
from geodns.health.decider import HealthDecider
from geodns.metrics import Metrics, ServingSources
from geodns.settings import Settings
from geodns.snapshot import SnapshotHolder, empty_snapshot

MAX_BODY_BYTES = 1 << 20  # a pool with thousands of members fits; more is a 413


def utc_now() -> datetime:
    return datetime.now(UTC)


def decider_for(settings: Settings) -> HealthDecider:
    """The health policy of these settings: quorum and flap damping."""
    damper = FlapDamper(settings.flap_max_changes, settings.flap_window_s, settings.flap_hold_s)
    return HealthDecider(settings.health_quorum or None, damper)


def query_stats(app: web.Application) -> QueryStats | None:
    """The DNS path's counters as of now (None: no listeners yet): on the native data plane,
    the Python path's with the C loop's added, under the same labels."""
    native = app.get(NATIVE_LOOP)
    if native is not None:
        return native.stats
    answerer = app.get(ANSWERER)
    return None if answerer is None else answerer.stats


def serving_sources(app: web.Application) -> ServingSources:
    """What /metrics reads at scrape time; the store and the DNS path only once opened."""

    def transitions() -> Mapping[str, int] | None:
        store = app.get(STORE)
        return None if store is None else store.transitions

    def defences() -> object | None:
        native = app.get(NATIVE_LOOP)
        if native is not None:
            return native.defences  # the Python path's counts with the C loop's added
        answerer = app.get(ANSWERER)
        return None if answerer is None else answerer.defences

    def tcp() -> object | None:
        listeners = app.get(LISTENERS)
        return None if listeners is None else listeners.connections

    def native_counters() -> Mapping[str, Any] | None:
        native = app.get(NATIVE_LOOP)
        return None if native is None else native.counters()

    def zone_load_failures() -> Mapping[str, int] | None:
        publisher = app.get(PUBLISHER)
        return None if publisher is None else publisher.zone_load_failures

    return ServingSources(
        lambda: app[SNAPSHOTS].current,
        transitions,
        lambda: query_stats(app),
        defences,
        tcp,
        lambda: app.get(DATA_PLANE),
        native_counters,
        zone_load_failures,
    )


def make_api(settings: Settings, *, clock: Callable[[], datetime] = utc_now) -> web.Application:
    """The API of these settings; the cleanup contexts that open what it serves (store,
    publisher, checker, listeners) are geodns.app's."""
    app = web.Application(
        middlewares=[
            hold_connection,
            request_ids,
            count_requests,
            error_bodies,
            require_token,
            read_bodies,
        ],
        client_max_size=MAX_BODY_BYTES,
    )
    app[SETTINGS] = settings
    app[SNAPSHOTS] = SnapshotHolder(empty_snapshot())
    app[DECIDER] = decider_for(settings)
    app[CLOCK] = clock
    app[DEPRECATIONS_LOGGED] = set()
    app[AUTH_FAILURES] = AuthFailures()
    app[METRICS] = Metrics(serving_sources(app))
    add_routes(app)
    if settings.metrics_require_token:
        app[PERMISSIONS][("GET", "/metrics")] = ANY_ROLE
    return app
