"""/healthz, /readyz and /metrics: what orchestrators and Prometheus poll, without a token.

Control plane, read-only.
"""

from __future__ import annotations

from aiohttp import web

from geodns.api.keys import DATA_PLANE, METRICS, READINESS, SNAPSHOTS
from geodns.metrics import CONTENT_TYPE
from geodns.store.reachability import Reachability


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready: zones loaded, a snapshot built and the database answering now (asked with
    readiness_timeout_s). Not ready is 503 with the reasons; DNS keeps answering from the
    last snapshot meanwhile, so it is the control plane that is out, not the answers."""
    snapshot = request.app[SNAPSHOTS].current
    probe = request.app.get(READINESS)
    database = (
        await probe.check() if probe is not None else Reachability(False, "database not open")
    )
    checks = {
        "zones_loaded": bool(snapshot.zones),
        "snapshot_built": snapshot.generation > 0,
        "database_reachable": database.reachable,
    }
    reasons = [
        why
        for failed, why in (
            (not checks["zones_loaded"], "no zone loaded"),
            (not checks["snapshot_built"], "no snapshot built yet"),
            (database.reason is not None, database.reason),
        )
        if failed
    ]
    ready = all(checks.values())
    body = {
        "ready": ready,
        "status": "ready" if ready else "not_ready",
        "checks": checks,
        "reasons": reasons,
        # who answers UDP; None in an app that serves no DNS
        "data_plane": request.app.get(DATA_PLANE),
    }
    return web.json_response(body, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
