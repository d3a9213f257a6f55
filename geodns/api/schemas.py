"""The component schemas of the OpenAPI document (geodns.api.openapi), as data.

Pure data and the small builders that write it; no I/O.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


def ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def body_of(schema: JSON, description: str = "", media: str = "application/json") -> JSON:
    return {"description": description or "OK", "content": {media: {"schema": schema}}}


def error(description: str) -> JSON:
    return body_of(ref("Error"), description)


def obj(required: list[str], properties: JSON, *, closed: bool = True) -> JSON:
    schema: JSON = {"type": "object", "required": required, "properties": properties}
    if closed:
        schema["additionalProperties"] = False
    return schema


def array(items: JSON) -> JSON:
    return {"type": "array", "items": items}


STRING: JSON = {"type": "string"}
NULLABLE_STRING: JSON = {"type": "string", "nullable": True}
INTEGER: JSON = {"type": "integer"}
BOOLEAN: JSON = {"type": "boolean"}
NUMBER: JSON = {"type": "number"}
TIME: JSON = {"type": "string", "format": "date-time"}
STATUS: JSON = {"type": "string", "enum": ["up", "down"]}

ETAG = {"ETag": {"description": "the pool's version", "schema": STRING}}
LOCATION = {"Location": {"description": "URL of the new resource", "schema": STRING}}
LINK = {"Link": {"description": 'next page, rel="next"', "schema": STRING}}

SCHEMAS: JSON = {
    # every error response, whatever its status, has this one body
    "Error": obj(
        ["error", "problems", "request_id"],
        {
            "error": {"type": "string", "description": "what went wrong, and what would be right"},
            "problems": array(ref("Problem")),
            "request_id": {"type": "string", "description": "as in X-Request-Id"},
        },
    ),
    "Problem": obj(
        ["where", "message"],
        {
            "where": {
                "type": "string",
                "description": 'the field ("members[2].weight", "limit") or file and line '
                '("zones/example.com.zone:14")',
            },
            "message": STRING,
        },
    ),
    "Member": obj(
        ["address", "weight", "region", "priority", "enabled"],
        {
            "address": {"type": "string", "description": "IPv4 or IPv6 address"},
            "weight": {"type": "integer", "minimum": 0, "maximum": 65535},
            "region": STRING,
            "latitude": {"type": "number", "minimum": -90, "maximum": 90},
            "longitude": {"type": "number", "minimum": -180, "maximum": 180},
            "priority": {"type": "integer", "minimum": 0},
            "enabled": BOOLEAN,
            "url": {
                "type": "string",
                "format": "uri",
                "maxLength": 2048,
                "description": "base URL the HTTP redirector sends this member's clients to "
                "(http or https, no credentials, query or fragment); every member or none",
            },
        },
    ),
    "Rule": obj(
        ["match", "regions"],
        {
            "match": obj([], {"cidr": STRING, "country": STRING, "continent": STRING}),
            "regions": array(STRING),
        },
    ),
    "Check": obj(
        ["type"],
        {
            "type": {"type": "string", "enum": ["tcp", "http", "https"]},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "path": STRING,
            "host": STRING,
            "expect_status": array({"type": "integer", "minimum": 100, "maximum": 599}),
            "body_contains": STRING,
            "tls_verify": BOOLEAN,
            "interval_s": {"type": "number", "description": "seconds between checks"},
            "timeout_s": {"type": "number", "description": "seconds; at most interval_s"},
            "interval": {"type": "number", "deprecated": True, "description": "interval_s"},
            "timeout": {"type": "number", "deprecated": True, "description": "timeout_s"},
            "rise": INTEGER,
            "fall": INTEGER,
        },
    ),
    "Pool": obj(
        [
            "name",
            "ttl",
            "policy",
            "max_answers",
            "min_healthy_fraction",
            "fail_open",
            "members",
            "rules",
        ],
        {
            "name": {"type": "string", "description": "fully qualified, inside a served zone"},
            "ttl": {"type": "integer", "minimum": 1, "maximum": 3600},
            "policy": {
                "type": "string",
                "enum": ["weighted", "nearest", "sticky", "round_robin", "failover", "adaptive"],
            },
            "max_answers": {"type": "integer", "minimum": 1, "maximum": 8},
            "min_healthy_fraction": {"type": "number", "minimum": 0, "maximum": 1},
            "fail_open": BOOLEAN,
            "default_regions": array(STRING),
            "members": array(ref("Member")),
            "rules": array(ref("Rule")),
            "check": ref("Check"),
        },
    ),
    "PoolPage": obj(["pools", "next"], {"pools": array(ref("Pool")), "next": NULLABLE_STRING}),
    "Members": obj(["members"], {"members": array(ref("Member"))}),
    "ReportBatch": obj(
        ["reports"],
        {
            "reports": array(
                obj(
                    ["address", "status"],
                    {
                        "address": STRING,
                        "status": STATUS,
                        "reason": {"type": "string", "maxLength": 500},
                        "ttl": {
                            "type": "number",
                            "minimum": 1,
                            "maximum": 86400,
                            "description": "seconds the report counts; default 60",
                        },
                    },
                )
            )
        },
    ),
    "ReportResult": obj(
        ["probe", "accepted", "addresses"],
        {
            "probe": STRING,
            "accepted": INTEGER,
            "addresses": array(
                obj(
                    ["address", "status", "reason", "transition"],
                    {
                        "address": STRING,
                        "status": STATUS,
                        "reason": STRING,
                        "transition": BOOLEAN,
                        # only when no pool has the address: kept, but it changes no answer
                        "unknown_address": {"type": "boolean", "enum": [True]},
                        "message": STRING,
                    },
                )
            ),
        },
    ),
    "Failed": obj(
        ["failed"],
        {
            "failed": array(
                obj(
                    ["address", "reason", "since", "probes"],
                    {"address": STRING, "reason": STRING, "since": TIME, "probes": array(STRING)},
                )
            )
        },
    ),
    "AddressHealth": obj(
        ["address", "status", "known", "reason", "since", "held_until", "probes", "transitions"],
        {
            "address": STRING,
            "status": STATUS,
            "known": BOOLEAN,
            "reason": STRING,
            "since": {**TIME, "nullable": True},
            # flap damping: down until this time if nothing changes, whatever the votes say
            "held_until": {**TIME, "nullable": True},
            "probes": array(
                obj(
                    ["probe", "status", "reason", "reported_at", "ttl", "live"],
                    {
                        "probe": STRING,
                        "status": STATUS,
                        "reason": STRING,
                        "reported_at": TIME,
                        "ttl": NUMBER,
                        "live": BOOLEAN,
                    },
                )
            ),
            "transitions": array(
                obj(
                    ["at", "status", "reason", "votes"],
                    {
                        "at": TIME,
                        "status": STATUS,
                        "reason": STRING,
                        "votes": {"type": "object", "additionalProperties": STATUS},
                    },
                )
            ),
        },
    ),
    "Zone": obj(
        ["name", "serial", "records", "file", "error"],
        {
            "name": STRING,
            "serial": INTEGER,
            "records": INTEGER,
            "file": STRING,
            "error": NULLABLE_STRING,
        },
    ),
    "ZoneError": obj(
        ["file", "error", "problems"],
        {
            "file": STRING,
            "error": STRING,
            "problems": array(ref("Problem")),
        },
    ),
    "Zones": obj(
        ["zones", "errors"], {"zones": array(ref("Zone")), "errors": array(ref("ZoneError"))}
    ),
    "ZoneReload": obj(
        ["loaded", "errors"], {"loaded": array(ref("Zone")), "errors": array(ref("ZoneError"))}
    ),
    "Record": obj(
        ["name", "type", "ttl", "data"],
        {"name": STRING, "type": STRING, "ttl": INTEGER, "data": STRING},
    ),
    "Explain": obj(
        [
            "name",
            "type",
            "client",
            "ecs",
            "seed",
            "rcode",
            "authoritative",
            "pool",
            "answer",
            "authority",
            "addresses",
            "ttl",
            "ecs_scope",
            "location",
            "explanation",
        ],
        {
            "name": STRING,
            "type": {"type": "string", "enum": ["A", "AAAA"]},
            "client": {"type": "string", "description": "the network the answer is for"},
            "ecs": BOOLEAN,
            "seed": {"type": "integer", "description": "repeat with &seed= for the same answer"},
            "rcode": STRING,
            "authoritative": BOOLEAN,
            "pool": NULLABLE_STRING,
            "answer": array(ref("Record")),
            "authority": array(ref("Record")),
            "addresses": array(STRING),
            "ttl": {"type": "integer", "nullable": True},
            "ecs_scope": {
                "type": "integer",
                "nullable": True,
                "description": "ECS scope prefix the reply carries (RFC 7871 §7.2.1)",
            },
            "location": {
                **obj(
                    ["country", "continent", "latitude", "longitude", "prefix"],
                    {
                        "country": NULLABLE_STRING,
                        "continent": NULLABLE_STRING,
                        "latitude": {"type": "number", "nullable": True},
                        "longitude": {"type": "number", "nullable": True},
                        "prefix": INTEGER,
                    },
                ),
                "nullable": True,
            },
            "explanation": {
                "type": "object",
                "nullable": True,
                "description": "select()'s trace: rule matched, regions tried with each "
                "member's configured and effective weight and status, exclusions with "
                "reasons, policy, fail_open, selected addresses, scope",
                "required": [
                    "pool",
                    "client",
                    "location",
                    "rule",
                    "rule_reason",
                    "policy",
                    "regions",
                    "excluded",
                    "fail_open",
                    "selected",
                    "scope_prefix",
                ],
            },
            "redirect": {
                **obj(
                    ["status", "location", "address", "alternates", "reason", "explanation"],
                    {
                        "status": {"type": "integer", "enum": [302, 404, 503]},
                        "location": NULLABLE_STRING,
                        "address": NULLABLE_STRING,
                        "alternates": array(
                            obj(
                                ["url", "address", "pri"],
                                {"url": STRING, "address": STRING, "pri": INTEGER},
                            )
                        ),
                        "reason": NULLABLE_STRING,
                        "explanation": {"type": "object", "nullable": True},
                    },
                ),
                "description": "with path=: what the HTTP redirector answers this client "
                "(Location, RFC 6249 alternates, or why not), by the redirector's own code",
            },
        },
    ),
    "Token": obj(
        ["name", "role", "created_at", "created_by"],
        {"name": STRING, "role": STRING, "created_at": TIME, "created_by": STRING},
    ),
    "Tokens": obj(["tokens"], {"tokens": array(ref("Token"))}),
    "NewToken": obj(
        ["name", "role"],
        {
            "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"},
            "role": {"type": "string", "enum": ["admin", "editor", "prober", "reader"]},
        },
    ),
    "IssuedToken": obj(
        ["name", "role", "token"],
        {
            "name": STRING,
            "role": STRING,
            "token": {"type": "string", "description": "shown only this once"},
        },
    ),
    "AuditPage": obj(
        ["entries", "next"],
        {
            "entries": array(
                obj(
                    ["id", "at", "actor", "action", "target", "before", "after"],
                    {
                        "id": INTEGER,
                        "at": TIME,
                        "actor": STRING,
                        "action": STRING,
                        "target": STRING,
                        "before": {"nullable": True},
                        "after": {"nullable": True},
                    },
                )
            ),
            "next": NULLABLE_STRING,
        },
    ),
}


SCHEMAS["Ready"] = obj(
    ["ready", "status", "checks", "reasons", "zones_refused", "data_plane"],
    {
        "ready": BOOLEAN,
        "status": {"type": "string", "enum": ["ready", "degraded", "not_ready"]},
        "reasons": {"type": "array", "items": STRING},
        "zones_refused": {
            "type": "array",
            "items": obj(
                ["file", "zone", "error", "problems", "serving_serial"],
                {
                    "file": STRING,
                    "zone": STRING,
                    "error": STRING,
                    "problems": {"type": "array", "items": ref("Problem")},
                    "serving_serial": {"type": ["integer", "null"]},
                },
            ),
        },
        "checks": obj(
            ["zones_loaded", "snapshot_built", "database_reachable"],
            {"zones_loaded": BOOLEAN, "snapshot_built": BOOLEAN, "database_reachable": BOOLEAN},
        ),
        "data_plane": {"type": ["string", "null"], "enum": ["native", "python", None]},
    },
)


def optional(schema: JSON, *required: str) -> JSON:
    """schema (an object) with only the given properties required: a request body."""
    return {**schema, "required": list(required)}


SCHEMAS["PoolInput"] = optional(SCHEMAS["Pool"], "name")
SCHEMAS["PoolInput"]["properties"] = {
    **SCHEMAS["Pool"]["properties"],
    "replace_static": {
        "type": "boolean",
        "description": "true: take a name whose zone file has A/AAAA records, the pool "
        "answering instead of them (without it, such a name is a 422); not stored",
    },
}
SCHEMAS["PoolReplacement"] = optional(SCHEMAS["Pool"])  # the URL names the pool
SCHEMAS["MemberInput"] = optional(SCHEMAS["Member"])  # the URL names the address
