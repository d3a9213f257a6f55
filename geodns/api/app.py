"""The aiohttp application of the REST API: middlewares, routes and metrics, no DNS."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiohttp import web

from geodns.api.keys import CLOCK, METRICS, RUNTIME
from geodns.api.middlewares import count_requests, error_bodies, request_ids, require_token
from geodns.api.routes import add_routes
from geodns.metrics import Metrics

if TYPE_CHECKING:
    from geodns.runtime import Runtime

MAX_BODY_BYTES = 1 << 20  # a pool with thousands of members fits; more is a 413


def utc_now() -> datetime:
    return datetime.now(UTC)


def make_api(runtime: Runtime, *, clock: Callable[[], datetime] = utc_now) -> web.Application:
    """The API over runtime; the cleanup contexts that open the store are app.py's."""
    app = web.Application(
        middlewares=[request_ids, count_requests, error_bodies, require_token],
        client_max_size=MAX_BODY_BYTES,
    )
    app[RUNTIME] = runtime
    app[CLOCK] = clock
    app[METRICS] = Metrics(runtime)
    add_routes(app)
    return app
