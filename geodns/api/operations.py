"""/healthz, /readyz and /metrics: what orchestrators and Prometheus poll, without a token.

Control plane, read-only.
"""

from __future__ import annotations

from aiohttp import web

from geodns.api.keys import DATA_PLANE, METRICS, PUBLISHER, SNAPSHOTS
from geodns.metrics import CONTENT_TYPE


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    snapshot = request.app[SNAPSHOTS].current
    publisher = request.app.get(PUBLISHER)
    checks = {
        "zones_loaded": bool(snapshot.zones),
        "snapshot_built": snapshot.generation > 0,
        "database_reachable": publisher is not None and publisher.store_reachable,
    }
    status = 200 if all(checks.values()) else 503
    # who answers UDP; None in an app that serves no DNS
    body = {"ready": status == 200, "checks": checks, "data_plane": request.app.get(DATA_PLANE)}
    return web.json_response(body, status=status)


async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
