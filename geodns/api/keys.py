"""Every aiohttp application key, typed, in one place."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from geodns.metrics import Metrics
    from geodns.runtime import Runtime
    from geodns.store.repository import Token

RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")  # aware UTC wall clock
# (method, path template) -> roles allowed; None: public, no token needed
PERMISSIONS: web.AppKey[dict[tuple[str, str], frozenset[str] | None]] = web.AppKey("permissions")

CALLER: web.RequestKey[Token] = web.RequestKey("caller")  # the token the request carried
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id")
