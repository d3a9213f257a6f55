"""The aiohttp application of the REST API: middlewares and routes, no DNS."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from geodns.api.keys import RUNTIME

if TYPE_CHECKING:
    from geodns.app import Runtime


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    snapshot = runtime.holder.current
    checks = {
        "zones_loaded": bool(snapshot.zones),
        "snapshot_built": snapshot.generation > 0,
        "database_reachable": runtime.store is not None and runtime.store_error is None,
    }
    status = 200 if all(checks.values()) else 503
    return web.json_response({"ready": status == 200, "checks": checks}, status=status)


def make_api(runtime: Runtime) -> web.Application:
    app = web.Application()
    app[RUNTIME] = runtime
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
