"""Composition root: the only module that sees both planes.

Opens the GeoIP database, the zones and the store, then runs one resource per aiohttp
cleanup context: the store, the change watch, the built-in health checks, the DNS
listeners and the worker processes. Signals: SIGHUP reloads zones (and is passed on
to workers), SIGTERM/SIGINT stop cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from aiohttp import web

from geodns.answer.cache import CachingAnswerer
from geodns.answer.querylog import QueryLogger
from geodns.answer.server import Answer, TcpLimits, start_listeners
from geodns.api.app import make_api
from geodns.api.keys import RUNTIME
from geodns.geo import open_geo
from geodns.health.checker import HealthChecker, HealthRecorder, first_report_timeout_s
from geodns.health.state import FlapDamper, HealthDecider
from geodns.runtime import Runtime
from geodns.settings import Settings
from geodns.store.migrate import ensure_schema
from geodns.store.repository import Store
from geodns.store.watch import watch_changes
from geodns.workers import WorkerPool, worker_environment

log = logging.getLogger(__name__)
# Reports expire and holds end without new reports: each node redecides when its store
# says that is due, and sweeps at least this often for reports a dead node stored.
HEALTH_REDECIDE_CEILING_S = 5.0


async def open_runtime(settings: Settings) -> Runtime:
    damper = FlapDamper(settings.flap_max_changes, settings.flap_window, settings.flap_hold)
    runtime = Runtime(settings, decider=HealthDecider(settings.health_quorum or None, damper))
    runtime.geo = open_geo(settings.geoip_db, bundled=settings.geoip_bundled)
    if runtime.geo is None:
        log.warning("no geoip database: every client gets the pools' default region order")
    else:
        log.info("geoip database=%s", runtime.geo.description)
    runtime.load_zones()
    runtime.publish()
    return runtime


async def open_store(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    url = runtime.settings.database_url
    await ensure_schema(url)  # refuses a database behind the code's migrations
    runtime.store = await Store.open(url)
    await runtime.refresh_from_store()
    yield
    await runtime.store.close()


async def keep_snapshot_current(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    assert runtime.store is not None
    stop = asyncio.Event()
    task = asyncio.create_task(
        watch_changes(
            runtime.store,
            runtime.settings.database_url,
            runtime.refresh_from_store,
            poll_interval_s=runtime.settings.poll_interval,
            stop=stop,
        )
    )
    yield
    stop.set()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def run_health_checks(app: web.Application) -> AsyncIterator[None]:
    """This node's built-in checker: one probe among the voters, named after the node."""
    runtime = app[RUNTIME]
    assert runtime.store is not None
    recorder = HealthRecorder(
        runtime.store,
        runtime.decider,
        wall_clock=lambda: datetime.now(UTC),
        on_transition=runtime.refresh_soon,
    )
    checker = HealthChecker(
        recorder.sink(node_name(runtime.settings)), on_weights=runtime.weights_changed
    )
    runtime.checker = checker
    added = checker.update(runtime.pools)
    if added:
        await checker.wait_first_reports(first_report_timeout_s(added))
        runtime.store_generation = -1  # read health again, with the first results in
        await runtime.refresh_from_store()
    runtime.recorder = recorder
    redecide = asyncio.create_task(recorder.run(HEALTH_REDECIDE_CEILING_S))
    yield
    runtime.recorder = None
    redecide.cancel()
    await asyncio.gather(redecide, return_exceptions=True)
    runtime.checker = None
    await checker.close()


async def serve_dns(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    settings = runtime.settings
    runtime.answerer = CachingAnswerer(runtime.holder)
    limits = TcpLimits(settings.tcp_idle_timeout, settings.tcp_max_connections)
    shared = settings.workers > 1 or settings.worker  # SO_REUSEPORT: the kernel spreads queries
    answer: Answer = runtime.answerer
    if settings.query_log:
        answer = QueryLogger(answer)
    runtime.listeners = await start_listeners(
        list(settings.dns), answer, limits=limits, reuse_port=shared
    )
    yield
    await runtime.listeners.close()


async def run_workers(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    assert runtime.listeners is not None
    environment = worker_environment(
        runtime.settings, runtime.listeners.endpoints, dict(os.environ)
    )
    pool = WorkerPool(runtime.settings.workers - 1, environment)
    app[WORKERS] = pool
    await pool.start()
    yield
    await pool.stop()


WORKERS: web.AppKey[WorkerPool] = web.AppKey("workers")


def make_app(runtime: Runtime) -> web.Application:
    app = make_api(runtime)
    settings = runtime.settings
    # cleanup contexts start in this order and stop in reverse
    app.cleanup_ctx.extend([open_store, keep_snapshot_current])
    if not settings.worker:
        app.cleanup_ctx.append(run_health_checks)  # the API and checks: main process only
    app.cleanup_ctx.append(serve_dns)
    if settings.workers > 1 and not settings.worker:
        app.cleanup_ctx.append(run_workers)
    return app


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT; SIGHUP reloads the zone files."""
    runtime = await open_runtime(settings)
    app = make_app(runtime)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()  # runs the cleanup contexts' start-up halves
    try:
        if settings.api is not None and not settings.worker:
            host, port = settings.api
            site = web.TCPSite(runner, host, port, reuse_address=True)
            await site.start()
            for bound in runner.addresses:  # the real port when 0 asked for any
                shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
                log.info("listening api=http://%s:%d", shown, bound[1])
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stopping.set)
        loop.add_signal_handler(signal.SIGINT, stopping.set)

        def reload() -> None:
            runtime.reload_zones()
            if WORKERS in app:
                app[WORKERS].reload()

        loop.add_signal_handler(signal.SIGHUP, reload)
        await stopping.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()


def node_name(settings: Settings) -> str:
    """This node's name as a health probe."""
    return settings.node_name or socket.gethostname()
