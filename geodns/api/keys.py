"""Every aiohttp application key, typed, in one place.

Each resource of a serving process hangs off the app under its own key, set by the
cleanup context that opens it (geodns.app) and absent until then: the API reads the one
it needs and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from geodns.answer.cache import CachingAnswerer
    from geodns.answer.native import NativeUdp
    from geodns.answer.server import Listeners
    from geodns.api.auth_failures import AuthFailures
    from geodns.geo import GeoReader
    from geodns.health.checker import HealthChecker, HealthRecorder
    from geodns.health.decider import HealthDecider
    from geodns.heartbeat import Heartbeat
    from geodns.metrics import Metrics
    from geodns.publisher import SnapshotPublisher
    from geodns.rates import Rates
    from geodns.redirect.server import HttpListeners
    from geodns.redirect.service import RedirectService
    from geodns.settings import Settings
    from geodns.snapshot import SnapshotHolder
    from geodns.store.reachability import ReachabilityProbe
    from geodns.store.repository import Store, Token
    from geodns.workers import WorkerPool

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
SNAPSHOTS: web.AppKey[SnapshotHolder] = web.AppKey("snapshots")  # what DNS answers from
# the health policy (quorum, damping) the API and the checker decide with; its memory of
# each address is stored with the address, shared by every node
DECIDER: web.AppKey[HealthDecider] = web.AppKey("decider")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")  # aware UTC wall clock
RATES: web.AppKey[Rates] = web.AppKey("rates")  # the console's per-pool and member rates
HEARTBEAT: web.AppKey[Heartbeat] = web.AppKey("heartbeat")  # this node's, in the store
# (method, path template) -> roles allowed; None: public, no token needed
PERMISSIONS: web.AppKey[dict[tuple[str, str], frozenset[str] | None]] = web.AppKey("permissions")
# bad tokens per client address: 429 after too many (geodns.api.auth_failures)
AUTH_FAILURES: web.AppKey[AuthFailures] = web.AppKey("auth_failures")
# the deprecated field spellings this process has logged already (each once)
DEPRECATIONS_LOGGED: web.AppKey[set[str]] = web.AppKey("deprecations_logged")

# set by the cleanup context that opens each one (geodns.app), in this order
GEO: web.AppKey[GeoReader | None] = web.AppKey("geo")  # None: no GeoIP database
STORE: web.AppKey[Store] = web.AppKey("store")
READINESS: web.AppKey[ReachabilityProbe] = web.AppKey("readiness")  # /readyz asks the store
PUBLISHER: web.AppKey[SnapshotPublisher] = web.AppKey("publisher")
CHECKER: web.AppKey[HealthChecker] = web.AppKey("checker")  # the main process's checks
RECORDER: web.AppKey[HealthRecorder] = web.AppKey("recorder")  # stores reports, redecides
ANSWERER: web.AppKey[CachingAnswerer] = web.AppKey("answerer")
# who answers UDP (answer/native.py: "native" or "python"), chosen before anything binds
DATA_PLANE: web.AppKey[str] = web.AppKey("data_plane")
NATIVE_LOOP: web.AppKey[NativeUdp] = web.AppKey("native_loop")  # on the native data plane
LISTENERS: web.AppKey[Listeners] = web.AppKey("listeners")
WORKERS: web.AppKey[WorkerPool] = web.AppKey("workers")  # with --workers N > 1 only
REDIRECTOR: web.AppKey[HttpListeners] = web.AppKey("redirector")  # with --http only
REDIRECTS: web.AppKey[RedirectService] = web.AppKey("redirects")  # with --http only

CALLER: web.RequestKey[Token] = web.RequestKey("caller")  # the token the request carried
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id")
