"""/api/v1/zones: what the zone files loaded, and reloading them.

Control plane. A reload that refuses a file keeps serving that file's previous data
(SnapshotPublisher.load_zones) and answers 422 with the API's error body, each problem's
where "file:line" (issue 12 §6); the files that did load are served all the same.
reload_everywhere is the one reload command, which SIGHUP runs too: this process, then
its --workers processes.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from geodns.api.http import JSON, caller, error_body, problem_documents
from geodns.api.keys import PUBLISHER, REQUEST_ID, WORKERS
from geodns.api.pools import store_of
from geodns.dns.zone import Zone
from geodns.dns.zonefile import ZoneLoad
from geodns.errors import GeodnsError, Problem, ValidationError
from geodns.publisher import SnapshotPublisher


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
        out.append({"file": path, "error": str(error), "problems": problem_documents(problems)})
    return out


def refused_documents(publisher: SnapshotPublisher) -> list[JSON]:
    """Each file the last load refused: its zone, what is served instead, and why."""
    out = []
    for document in error_documents(publisher.zone_errors):
        kept = publisher.kept_zone(document["file"])
        document["zone"] = publisher.zone_of(document["file"])
        document["serving_serial"] = None if kept is None else kept.serial
        out.append(document)
    return out


def problems_of(errors: Mapping[str, GeodnsError]) -> list[Problem]:
    """Every problem of every refused file, where = "file:line"."""
    problems: list[Problem] = []
    for path, error in sorted(errors.items()):
        if isinstance(error, ValidationError) and error.problems:
            problems.extend(error.problems)
        else:
            problems.append(Problem(path, str(error)))
    return problems


def reload_everywhere(app: web.Application) -> ZoneLoad:
    """Reload the zone files in this process and pass the reload on to every worker
    (each reads the same directory); what this process loaded and refused."""
    load = app[PUBLISHER].reload_zones()
    workers = app.get(WORKERS)
    if workers is not None:
        workers.reload()
    return load


async def list_zones(request: web.Request) -> web.Response:
    publisher = request.app[PUBLISHER]
    errors = publisher.zone_errors
    zones = sorted(publisher.zones.values(), key=lambda z: z.origin_text)
    return web.json_response(
        {
            "zones": [zone_document(z, errors.get(z.source)) for z in zones],
            "errors": error_documents(errors),
        }
    )


async def reload_zones(request: web.Request) -> web.Response:
    store = store_of(request)
    load = reload_everywhere(request.app)
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
    if errors:
        publisher = request.app[PUBLISHER]
        refused = ", ".join(f"{path} ({publisher.zone_of(path)})" for path in sorted(errors))
        message = (
            f"zone reload refused {len(errors)} file(s), their previous data still served: "
            f"{refused}"
        )
        body = error_body(message, problems_of(errors), request[REQUEST_ID])
        return web.json_response(body, status=422)
    return web.json_response(result)
