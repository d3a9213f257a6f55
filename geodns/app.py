"""Composition root: the only module that sees both planes.

One resource per aiohttp cleanup context, each under its own typed app key
(geodns.api.keys), started in this order and stopped in reverse: the GeoIP database,
the zones and the snapshot publisher, the store, the change watch, the built-in health
checks, the DNS listeners, the HTTP redirector (--http, main process only) and the worker
processes. Signals: SIGHUP runs the same zone reload as POST /api/v1/zones/reload (this
process and its workers), SIGTERM/SIGINT stop cleanly.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import resource
import signal
import socket
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from geodns import __version__
from geodns.answer.acl import DenyAction
from geodns.answer.cache import CachingAnswerer
from geodns.answer.defences import access_list, defences_from
from geodns.answer.native import NATIVE, NativeUdp, choose_data_plane
from geodns.answer.querylog import QueryLogger
from geodns.answer.server import Answer, TcpLimits, UdpReader, start_listeners
from geodns.api.app import make_api, query_stats
from geodns.api.connections import ApiConnections, ApiLimits, LimitedSite, tls_context
from geodns.api.keys import (
    ANSWERER,
    CHECKER,
    CLOCK,
    DATA_PLANE,
    DECIDER,
    GEO,
    HEARTBEAT,
    LISTENERS,
    METRICS,
    NATIVE_LOOP,
    PUBLISHER,
    RATES,
    READINESS,
    RECORDER,
    REDIRECTOR,
    REDIRECTS,
    SETTINGS,
    SNAPSHOTS,
    STORE,
    WORKERS,
)
from geodns.api.zones import reload_everywhere
from geodns.endpoints import format_endpoint
from geodns.errors import ConfigError
from geodns.geo import open_geo
from geodns.health.checker import HealthChecker, HealthRecorder, first_report_timeout_s
from geodns.heartbeat import Heartbeat
from geodns.metrics import RedirectCollector
from geodns.publisher import SnapshotPublisher
from geodns.rates import SAMPLE_EVERY_S, Rates, sample_of
from geodns.redirect.server import HttpLimits, start_http
from geodns.redirect.service import RedirectService
from geodns.settings import Settings, load_settings, process_environment
from geodns.store.migrate import ensure_schema
from geodns.store.reachability import ReachabilityProbe
from geodns.store.repository import Store, StoreTimeouts
from geodns.store.watch import watch_changes
from geodns.workers import WorkerPool, worker_environment

log = logging.getLogger(__name__)
# Reports expire and holds end without new reports: each node redecides when its store
# says that is due, and sweeps at least this often for reports a dead node stored.
HEALTH_REDECIDE_CEILING_S = 5.0


async def open_geo_database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    geo = open_geo(settings.geoip_db, bundled=settings.geoip_bundled)
    if geo is None:
        log.warning("no geoip database: every client gets the pools' default region order")
    else:
        log.info("geoip database=%s", geo.description)
    app[GEO] = geo
    yield
    if geo is not None:
        geo.close()


async def publish_zones(app: web.Application) -> AsyncIterator[None]:
    """The snapshot publisher, serving the zone files until the store has been read."""
    settings = app[SETTINGS]
    publisher = SnapshotPublisher(
        settings.zones, app[GEO], app[SNAPSHOTS], dnssec_key_secret=settings.dnssec_key_secret
    )
    publisher.load_zones()
    publisher.publish()
    app[PUBLISHER] = publisher
    yield
    publisher.close()


async def open_store(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    url = settings.database_url
    await ensure_schema(url)  # refuses a database behind the code's migrations
    timeouts = StoreTimeouts(
        settings.database_connect_timeout_s, settings.database_statement_timeout_s
    )
    store = await Store.open(url, timeouts=timeouts)
    if settings.cookies and await store.ensure_cookie_secret():
        log.info("dns cookie secret created: every node sharing this database uses it")
    app[STORE] = store
    app[READINESS] = probe = ReachabilityProbe(store.generation, settings.readiness_timeout_s)
    yield
    await probe.close()
    await store.close()


async def keep_snapshot_current(app: web.Application) -> AsyncIterator[None]:
    """Pools and health from the store into snapshots: read all once, then each change."""
    publisher, store = app[PUBLISHER], app[STORE]
    publisher.follow(store)
    await publisher.refresh()
    stop = asyncio.Event()
    task = asyncio.create_task(
        watch_changes(
            store,
            app[SETTINGS].database_url,
            publisher.on_store_change,
            poll_interval_s=app[SETTINGS].poll_interval_s,
            stop=stop,
            since=publisher.store_generation,
            connect_timeout_s=app[SETTINGS].database_connect_timeout_s,
        )
    )
    yield
    stop.set()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    publisher.follow(None)


async def run_health_checks(app: web.Application) -> AsyncIterator[None]:
    """This node's built-in checker: one probe among the voters, named after the node."""
    publisher = app[PUBLISHER]
    recorder = HealthRecorder(
        app[STORE],
        app[DECIDER],
        wall_clock=lambda: datetime.now(UTC),
        on_transition=publisher.refresh_soon,
    )
    checker = HealthChecker(
        recorder.sink(node_name(app[SETTINGS])), on_weights=publisher.weights_changed
    )
    publisher.check_with(checker)
    added = checker.update(publisher.pools)
    if added:
        await checker.wait_first_reports(first_report_timeout_s(added))
        await publisher.refresh(everything=True)  # health again, with the first results in
    app[CHECKER] = checker
    app[RECORDER] = recorder
    redecide = asyncio.create_task(recorder.run(HEALTH_REDECIDE_CEILING_S))
    yield
    redecide.cancel()
    await asyncio.gather(redecide, return_exceptions=True)
    publisher.check_with(None)
    await checker.close()


async def serve_dns(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    answerer = CachingAnswerer(app[SNAPSHOTS], defences=defences_from(settings))
    app[ANSWERER] = answerer
    limits = TcpLimits(
        settings.tcp_idle_timeout_s,
        settings.tcp_max_connections,
        settings.tcp_max_connections_per_client,
    )
    shared = settings.workers > 1 or settings.worker  # SO_REUSEPORT: the kernel spreads queries
    answer: Answer = answerer
    if settings.query_log:
        answer = QueryLogger(answer)
    udp_reader: UdpReader | None = None
    if app[DATA_PLANE] == NATIVE:
        native = NativeUdp(answerer, logged=answer if settings.query_log else None)
        app[NATIVE_LOOP] = udp_reader = native
    listeners = await start_listeners(
        list(settings.dns), answer, limits=limits, reuse_port=shared, udp_reader=udp_reader
    )
    app[LISTENERS] = listeners
    yield
    await listeners.close()


async def serve_http(app: web.Application) -> AsyncIterator[None]:
    """The HTTP redirector (--http): the pools' selection answered as 302s."""
    settings = app[SETTINGS]
    assert settings.http is not None
    service = RedirectService(
        app[SNAPSHOTS],
        pool_in_path=settings.http_pool_in_path,
        trusted=settings.http_trusted_proxies,
    )
    limits = HttpLimits(settings.http_idle_timeout_s, settings.http_max_connections)
    listeners = await start_http([settings.http], service, limits)
    app[REDIRECTOR] = listeners
    app[REDIRECTS] = service
    collector = RedirectCollector(service.stats)
    app[METRICS].registry.register(collector)
    yield
    app[METRICS].registry.unregister(collector)
    await listeners.close()


async def run_workers(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    environment = worker_environment(settings, app[LISTENERS].endpoints, process_environment())
    pool = WorkerPool(settings.workers - 1, environment)
    app[WORKERS] = pool
    await pool.start()
    yield
    await pool.stop()


async def record_heartbeats(app: web.Application) -> AsyncIterator[None]:
    """This node's row in the store's nodes table, every few seconds (the console reads it)."""
    heartbeat = Heartbeat(
        app[STORE], app[SNAPSHOTS], node_name(app[SETTINGS]), __version__, app[CLOCK]
    )
    app[HEARTBEAT] = heartbeat
    task = asyncio.create_task(heartbeat.run())
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def sample_rates(app: web.Application) -> AsyncIterator[None]:
    """Samples the DNS path's and the redirector's counters for the console's rates."""
    rates = app[RATES] = Rates()
    redirects = app[REDIRECTS].stats.responses if REDIRECTS in app else None
    loop = asyncio.get_running_loop()

    async def run() -> None:
        while True:
            stats = query_stats(app)  # read again each time: the C loop's counts are copies
            assert stats is not None
            rates.add(sample_of(loop.time(), stats.answered, stats.member_answers, redirects))
            await asyncio.sleep(SAMPLE_EVERY_S)

    task = asyncio.create_task(run())
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def make_app(settings: Settings) -> web.Application:
    app = make_api(settings)
    # before anything opens or binds: data_plane = native without the extension refuses here
    app[DATA_PLANE] = choose_data_plane(settings.data_plane)
    # cleanup contexts start in this order and stop in reverse
    app.cleanup_ctx.extend([open_geo_database, publish_zones, open_store, keep_snapshot_current])
    if not settings.worker:
        app.cleanup_ctx.append(run_health_checks)  # the API and checks: main process only
    app.cleanup_ctx.append(serve_dns)
    if settings.http is not None and not settings.worker:
        app.cleanup_ctx.append(serve_http)
    if not settings.worker:  # what the console shows: the API's process only
        app.cleanup_ctx.extend([record_heartbeats, sample_rates])
    if settings.workers > 1 and not settings.worker:
        app.cleanup_ctx.append(run_workers)
    return app


def raise_open_file_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit: every DNS over TCP and API connection is a
    descriptor, and the usual soft 1,024 is what a flood of held connections runs into."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard or soft == resource.RLIM_INFINITY:
        log.info("open files limit=%d (the hard limit)", soft)
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (OSError, ValueError) as exc:
        log.warning("open files limit stays %d, not raised to %d: %s", soft, hard, exc)
        return
    log.info("open files limit raised from=%d to=%d (the hard limit)", soft, hard)


def api_tls(settings: Settings) -> ssl.SSLContext | None:
    """The API's TLS context, or None for plain HTTP; ConfigError naming the files."""
    if settings.api_tls_cert is None or settings.api_tls_key is None:
        return None
    try:
        return tls_context(settings.api_tls_cert, settings.api_tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"api_tls_cert {settings.api_tls_cert} / api_tls_key {settings.api_tls_key}: "
            f"cannot load the certificate and key: {exc}"
        ) from exc


async def serve_api(runner: web.AppRunner, settings: Settings, tls: ssl.SSLContext | None) -> None:
    """The API's site on settings.api, under its own connection limits."""
    assert settings.api is not None
    host, port = settings.api
    limits = ApiLimits(settings.api_header_timeout_s, settings.api_max_connections)
    connections = ApiConnections(limits, runner.app[METRICS].api_limited)
    site = LimitedSite(runner, host, port, connections, ssl_context=tls)
    await site.start()
    scheme = "https" if tls is not None else "http"
    bound = [(address[0], address[1]) for address in runner.addresses]  # 0 asked: the real port
    for address, bound_port in bound:
        log.info("listening api=%s://%s", scheme, format_endpoint((address, bound_port)))
    if tls is None and not ipaddress.ip_address(host).is_loopback:
        log.warning(
            "api listens on %s without TLS: tokens and pool data cross the network in "
            "clear text; set api_tls_cert and api_tls_key, or listen on a loopback address",
            ", ".join(format_endpoint(address) for address in bound),
        )


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT; SIGHUP reloads the zone files."""
    raise_open_file_limit()
    api = settings.api is not None and not settings.worker
    tls = api_tls(settings) if api else None  # a bad file is refused before anything binds
    app = make_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()  # runs the cleanup contexts' start-up halves
    try:
        if api:
            await serve_api(runner, settings, tls)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stopping.set)
        loop.add_signal_handler(signal.SIGINT, stopping.set)

        def reload() -> None:
            reload_everywhere(app)
            reload_access_lists(app)

        loop.add_signal_handler(signal.SIGHUP, reload)
        await stopping.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()


def reload_access_lists(app: web.Application) -> None:
    """SIGHUP: dns_allow, dns_deny and dns_deny_action read again from the same layers
    (the TOML file may have changed); a file that fails keeps the lists in force."""
    answerer = app.get(ANSWERER)
    if answerer is None:
        return
    layers = app[SETTINGS].layers
    try:
        text = Path(layers.config).read_text() if layers.config is not None else None
        fresh = load_settings(layers.flags, layers.environ, text, layers.config or "config")
    except (OSError, ConfigError) as exc:
        log.warning("access lists not reloaded, the previous ones stay in force: %s", exc)
        return
    defences = answerer.defences
    defences.access = access_list(fresh)
    defences.deny_action = DenyAction(fresh.dns_deny_action)
    log.info(
        "access lists loaded allow=%d deny=%d action=%s",
        len(fresh.dns_allow),
        len(fresh.dns_deny),
        fresh.dns_deny_action,
    )


def node_name(settings: Settings) -> str:
    """This node's name as a health probe."""
    return settings.node_name or socket.gethostname()
