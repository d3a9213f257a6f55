"""/api/v1/zones: what the zone files loaded, and reloading them.

Control plane. A reload that refuses a file keeps serving that file's previous data
(Runtime.load_zones); the response lists every refused file with its problems, still 200:
the reload itself ran.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from geodns.api.http import JSON, caller
from geodns.api.keys import RUNTIME
from geodns.api.pools import store_of
from geodns.dns.zone import Zone
from geodns.errors import GeodnsError, ValidationError


def zone_document(zone: Zone, error: GeodnsError | None) -> JSON:
    return {
        "name": zone.origin_text,
        "serial": zone.serial,
        "records": zone.record_count(),
        "file": zone.source,
        "error": None if error is None else str(error),
    }


def error_documents(errors: Mapping[str, GeodnsError]) -> list[JSON]:
    out = []
    for path, error in sorted(errors.items()):
        problems = error.problems if isinstance(error, ValidationError) else ()
        out.append(
            {
                "file": path,
                "error": str(error),
                "problems": [{"where": p.where, "message": p.message} for p in problems],
            }
        )
    return out


async def list_zones(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    errors = runtime.zone_errors
    zones = sorted(runtime.zones.values(), key=lambda z: z.origin_text)
    return web.json_response(
        {
            "zones": [zone_document(z, errors.get(z.source)) for z in zones],
            "errors": error_documents(errors),
        }
    )


async def reload_zones(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    store = store_of(request)
    load = runtime.reload_zones()
    errors = load.errors
    loaded = sorted(load.zones.values(), key=lambda z: z.origin_text)
    result = {
        "loaded": [zone_document(z, None) for z in loaded],
        "errors": error_documents(errors),
    }
    summary = {
        "loaded": [{"name": z.origin_text, "serial": z.serial} for z in loaded],
        "errors": sorted(errors),
    }
    await store.record_audit(caller(request).name, "zones.reload", "zones", None, summary)
    return web.json_response(result)
