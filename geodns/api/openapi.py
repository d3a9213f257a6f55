"""The OpenAPI 3 document of the API, as data, served at /api/v1/openapi.json.

Control plane, no I/O. Who may call each operation is not repeated here: get_openapi
adds each operation's security and roles (x-roles) from the route table the token
middleware enforces, so the document cannot disagree with it.
"""

from __future__ import annotations

import copy

from aiohttp import web

from geodns import __version__
from geodns.api.console_schemas import CONSOLE_SCHEMAS
from geodns.api.dnssec_schemas import DNSSEC_SCHEMAS
from geodns.api.keys import PERMISSIONS
from geodns.api.openapi_operations import (
    ADDRESS,
    BODY_ERRORS,
    COMMON,
    CURSOR,
    IF_MATCH,
    LIMIT,
    NAME,
    READ_ERRORS,
    WRITE_ERRORS,
    op,
    path_param,
    query_param,
    with_headers,
)
from geodns.api.schemas import (
    ETAG,
    JSON,
    LINK,
    LOCATION,
    SCHEMAS,
    STRING,
    body_of,
    error,
    obj,
    ref,
)

ZONE = path_param("zone", "zone name, with or without the trailing dot")
ZONE_ERRORS = {
    "404": error("the zone is not signed"),
    "422": error("not a zone name"),
}

POOL_OK = with_headers(body_of(ref("Pool")), ETAG)
MEMBER_OK = with_headers(body_of(ref("Member")), ETAG)
NO_CONTENT = {"description": "done"}
MERGE = "application/merge-patch+json"
MERGE_PATCH = {
    "type": "object",
    "description": "RFC 7396: the members given replace the document's, null removes one",
}

COOKIE_ROTATION = obj(
    ["rotated", "previous_accepted_until", "previous_accepted_for_s"],
    {
        "rotated": {"type": "boolean", "enum": [True]},
        "previous_accepted_until": {
            "type": "string",
            "format": "date-time",
            "description": "until when cookies made with the previous secret still verify",
        },
        "previous_accepted_for_s": {"type": "integer", "minimum": 0},
    },
)

PATHS: JSON = {
    "/healthz": {
        "get": op("the process is alive", {"200": body_of(obj(["status"], {"status": STRING}))})
    },
    "/readyz": {
        "get": op(
            "zones loaded, snapshot built, database reachable",
            {"200": body_of(ref("Ready")), "503": body_of(ref("Ready"), "not ready")},
        )
    },
    "/metrics": {"get": op("Prometheus metrics", {"200": body_of(STRING, media="text/plain")})},
    "/api/v1/openapi.json": {"get": op("this document", {"200": body_of({"type": "object"})})},
    "/ui/": {
        "get": op(
            "the operator's console (signs in with a token, then reads this API)",
            {"200": body_of(STRING, media="text/html")},
        )
    },
    "/ui/{asset}": {
        "get": op(
            "the console's script and stylesheet",
            {"200": body_of(STRING, media="text/plain"), "404": error("no such console file")},
            params=[path_param("asset", "console.js or console.css")],
        )
    },
    "/api/v1/whoami": {
        "get": op(
            "the token this request carries: name and role",
            {"200": body_of(ref("WhoAmI")), **COMMON},
        )
    },
    "/api/v1/overview": {
        "get": op(
            "this node and a page of pools with member counts by state and the last "
            "minute's rates (this node's counters)",
            {
                "200": body_of(ref("Overview")),
                **COMMON,
                "422": body_of(ref("Invalid"), "a bad query parameter"),
            },
            params=[query_param("zone", STRING, "only pools at or below this zone"), LIMIT, CURSOR],
        )
    },
    "/api/v1/nodes": {
        "get": op(
            "the nodes sharing this database, from their heartbeats; silent and behind flagged",
            {"200": body_of(ref("Nodes")), **COMMON},
        )
    },
    "/api/v1/pools": {
        "get": op(
            "list pools in name order",
            {
                "200": with_headers(body_of(ref("PoolPage")), LINK),
                **COMMON,
                "422": error("a bad query parameter"),
            },
            params=[query_param("zone", STRING, "only pools at or below this zone"), LIMIT, CURSOR],
        ),
        "post": op(
            "create a pool",
            {
                "201": with_headers(body_of(ref("Pool"), "created"), {**ETAG, **LOCATION}),
                **WRITE_ERRORS,
            },
            body=ref("PoolInput"),
        ),
    },
    "/api/v1/pools/{name}": {
        "get": op("read a pool", {"200": POOL_OK, **READ_ERRORS}, params=[NAME]),
        "put": op(
            "replace a pool",
            {"200": POOL_OK, **WRITE_ERRORS},
            params=[NAME, IF_MATCH],
            body=ref("PoolReplacement"),
        ),
        "patch": op(
            "JSON merge patch (RFC 7396) a pool; the result is validated whole",
            {"200": POOL_OK, **WRITE_ERRORS},
            params=[NAME, IF_MATCH],
            body=MERGE_PATCH,
            media=MERGE,
        ),
        "delete": op(
            "delete a pool",
            {"204": NO_CONTENT, **READ_ERRORS, "412": error("If-Match names a stale version")},
            params=[NAME, IF_MATCH],
        ),
    },
    "/api/v1/pools/{name}/state": {
        "get": op(
            "a pool's members as the console shows them: state, reason, since, probes, "
            "check latency, share of answers and of weight; the ETag is the pool's",
            {"200": with_headers(body_of(ref("PoolState")), ETAG), **READ_ERRORS},
            params=[NAME],
        ),
    },
    "/api/v1/pools/{name}/members": {
        "get": op(
            "a pool's members",
            {"200": with_headers(body_of(ref("Members")), ETAG), **READ_ERRORS},
            params=[NAME],
        ),
    },
    "/api/v1/pools/{name}/members/{address}": {
        "get": op("read one member", {"200": MEMBER_OK, **READ_ERRORS}, params=[NAME, ADDRESS]),
        "put": op(
            "add or replace one member; the pool is validated whole",
            {
                "200": MEMBER_OK,
                "201": with_headers(body_of(ref("Member"), "added"), {**ETAG, **LOCATION}),
                **WRITE_ERRORS,
            },
            params=[NAME, ADDRESS, IF_MATCH],
            body=ref("MemberInput"),
        ),
        "patch": op(
            'merge patch one member ({"weight": 0} drains it)',
            {"200": MEMBER_OK, **WRITE_ERRORS},
            params=[NAME, ADDRESS, IF_MATCH],
            body=MERGE_PATCH,
            media=MERGE,
        ),
        "delete": op(
            "remove one member; the pool is validated whole",
            {
                "204": with_headers(NO_CONTENT, ETAG),
                **READ_ERRORS,
                "412": WRITE_ERRORS["412"],
                "422": WRITE_ERRORS["422"],
            },
            params=[NAME, ADDRESS, IF_MATCH],
        ),
    },
    "/api/v1/health/reports": {
        "post": op(
            "a probe's batch of reports (the probe is the token's name)",
            {"200": body_of(ref("ReportResult")), **COMMON, **BODY_ERRORS},
            body=ref("ReportBatch"),
        ),
    },
    "/api/v1/health/failed": {
        "get": op("the addresses down now", {"200": body_of(ref("Failed")), **COMMON}),
    },
    "/api/v1/health/addresses/{address}": {
        "get": op(
            "one address: state, probes, recent transitions",
            {
                "200": body_of(ref("AddressHealth")),
                **COMMON,
                "422": error("not an address"),
            },
            params=[path_param("address", "IPv4 or IPv6 address")],
        ),
    },
    "/api/v1/zones": {
        "get": op("the zones loaded from zone files", {"200": body_of(ref("Zones")), **COMMON})
    },
    "/api/v1/zones/reload": {
        "post": op(
            "read the zone files again (a refused file keeps serving its previous data)",
            {
                "200": body_of(ref("ZoneReload")),
                "422": error("a file was refused: each problem's where is file:line"),
                **COMMON,
            },
        )
    },
    "/api/v1/explain": {
        "get": op(
            "the answer a client gets now, and why",
            {
                "200": body_of(ref("Explain")),
                **COMMON,
                "422": error("bad or missing parameters"),
            },
            params=[
                query_param("name", STRING, "the name asked for", required=True),
                query_param("type", {"type": "string", "enum": ["A", "AAAA"]}, "default A"),
                query_param("client", STRING, "the client's address (or give ecs)"),
                query_param("ecs", STRING, "the client subnet, NETWORK/PREFIX (or give client)"),
                query_param(
                    "seed",
                    {"type": "integer", "minimum": 0},
                    "fix the random choices; default: a fresh seed, returned",
                ),
                query_param(
                    "path",
                    STRING,
                    "also explain the HTTP redirect for this path (with client=)",
                ),
            ],
        )
    },
    "/api/v1/tokens": {
        "get": op("every token (never the secrets)", {"200": body_of(ref("Tokens")), **COMMON}),
        "post": op(
            "issue a token; the response is the only time it is shown",
            {
                "201": with_headers(body_of(ref("IssuedToken"), "issued"), LOCATION),
                **COMMON,
                **BODY_ERRORS,
                "409": error("the name is taken"),
            },
            body=ref("NewToken"),
        ),
    },
    "/api/v1/tokens/{name}": {
        "delete": op(
            "revoke a token",
            {
                "204": NO_CONTENT,
                **COMMON,
                "404": error("no such token"),
                "409": error("the last admin token: create another one first"),
            },
            params=[path_param("name", "token name")],
        )
    },
    "/api/v1/dnssec": {
        "get": op("every signed zone and its keys", {"200": body_of(ref("SignedZones")), **COMMON})
    },
    "/api/v1/dnssec/{zone}": {
        "get": op(
            "a signed zone: its keys, their phases, the next rollover step",
            {"200": body_of(ref("SignedZone")), **COMMON, **ZONE_ERRORS},
            params=[ZONE],
        ),
        "post": op(
            "sign a served zone: a new key (CSK) that signs at once",
            {
                "201": with_headers(body_of(ref("SignedZone"), "signed"), LOCATION),
                **COMMON,
                **BODY_ERRORS,
                "409": error("the zone is signed already"),
                "503": error("no dnssec_key_secret on this node, or not the keys' one"),
            },
            params=[ZONE],
            body=ref("DnssecEnable"),
        ),
    },
    "/api/v1/dnssec/{zone}/ds": {
        "get": op(
            "the DS records (SHA-256) to give the parent",
            {"200": body_of(ref("DsRecords")), **COMMON, **ZONE_ERRORS},
            params=[ZONE],
        )
    },
    "/api/v1/dnssec/{zone}/rollover": {
        "post": op(
            "start a key rollover, or (ds_replaced) let the old key go once the parent has "
            "the new DS",
            {
                "200": body_of(ref("SignedZone")),
                **COMMON,
                **BODY_ERRORS,
                **ZONE_ERRORS,
                "409": error("not possible in this step: a rollover runs, or none waits"),
                "503": error("no dnssec_key_secret on this node, or not the keys' one"),
            },
            params=[ZONE],
            body=ref("DnssecRollover"),
        )
    },
    "/api/v1/cookies/rotate": {
        "post": op(
            "a new DNS cookie secret for every node sharing the database; cookies made with "
            "the previous one stay valid for an hour (RFC 9018 §4.3)",
            {"200": body_of(ref("CookieRotation")), **COMMON},
        )
    },
    "/api/v1/audit": {
        "get": op(
            "audit log, newest first",
            {
                "200": with_headers(body_of(ref("AuditPage")), LINK),
                **COMMON,
                "422": error("a bad query parameter"),
            },
            params=[
                query_param("actor", STRING, "token (or probe) name"),
                query_param("action", STRING, "pool.create, member.delete, health.down, ..."),
                query_param("target", STRING, "prefix, e.g. pools/www.example.com."),
                LIMIT,
                CURSOR,
            ],
        )
    },
}


DOCUMENT: JSON = {
    "openapi": "3.0.3",
    "info": {
        "title": "geodns",
        "version": __version__,
        "description": "Pools, health reports, zones, explain, tokens and audit of an "
        "authoritative smart-DNS load balancer. Every error, whatever its status, is the "
        'JSON body Error: {"error", "problems": [{"where", "message"}], "request_id"}, '
        "problems empty unless the request was invalid (422); every response carries "
        "X-Request-Id.",
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            **SCHEMAS,
            **DNSSEC_SCHEMAS,
            **CONSOLE_SCHEMAS,
            "CookieRotation": COOKIE_ROTATION,
        },
    },
    "security": [{"bearer": []}],
    "paths": PATHS,
}


def document(permissions: dict[tuple[str, str], frozenset[str] | None]) -> JSON:
    """DOCUMENT with each operation's security and x-roles from the route table."""
    doc = copy.deepcopy(DOCUMENT)
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            roles = permissions.get((method.upper(), path))
            if roles is None:
                operation["security"] = []
                operation.get("responses", {}).pop("401", None)
                operation.get("responses", {}).pop("403", None)
            else:
                operation["x-roles"] = sorted(roles)
    return doc


async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(document(request.app[PERMISSIONS]))
