"""/healthz, /readyz and /metrics: what orchestrators and Prometheus poll, without a token.

Control plane, read-only.
"""

from __future__ import annotations

from aiohttp import web

from geodns.api.keys import DATA_PLANE, METRICS, PUBLISHER, READINESS, SNAPSHOTS
from geodns.api.zones import refused_documents
from geodns.metrics import CONTENT_TYPE
from geodns.store.reachability import Reachability


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready: zones loaded, a snapshot built and the database answering now (asked with
    readiness_timeout_s). Not ready is 503 with the reasons; DNS keeps answering from the
    last snapshot meanwhile, so it is the control plane that is out, not the answers.
    Degraded is 200: a zone file the last reload refused, its previous data still served."""
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
    publisher = request.app.get(PUBLISHER)
    refused = refused_documents(publisher) if publisher is not None else []
    for zone in refused:
        served = zone["serving_serial"]
        if zone["zone"] == "*":
            why = f"zones {zone['file']} not read: every zone serves its previous data"
        elif served is None:
            why = f"zone {zone['zone']} refused ({zone['file']}): nothing served for it"
        else:
            why = f"zone {zone['zone']} refused ({zone['file']}): serving serial {served}"
        reasons.append(why)
    ready = all(checks.values())
    body = {
        "ready": ready,
        "status": "not_ready" if not ready else "degraded" if refused else "ready",
        "checks": checks,
        "reasons": reasons,
        "zones_refused": refused,
        # who answers UDP; None in an app that serves no DNS
        "data_plane": request.app.get(DATA_PLANE),
    }
    return web.json_response(body, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
