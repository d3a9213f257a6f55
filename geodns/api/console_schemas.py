"""The component schemas of what the console reads (geodns.api.console), as data.

Pure data; geodns.api.openapi adds them to the document beside SCHEMAS.
"""

from __future__ import annotations

from geodns.api.schemas import (
    BOOLEAN,
    INTEGER,
    JSON,
    NULLABLE_STRING,
    NUMBER,
    STATUS,
    STRING,
    TIME,
    array,
    obj,
)

NULLABLE_NUMBER: JSON = {"type": "number", "nullable": True}

CONSOLE_SCHEMAS: JSON = {
    "WhoAmI": obj(["name", "role"], {"name": STRING, "role": STRING}),
    "Overview": obj(
        ["node", "rates_span_s", "pools", "next"],
        {
            "node": obj(
                ["name", "version", "generation", "store_generation", "database_reachable"],
                {
                    "name": STRING,
                    "version": STRING,
                    "generation": INTEGER,
                    "store_generation": INTEGER,
                    "database_reachable": BOOLEAN,
                },
            ),
            "rates_span_s": {"type": "number", "description": "seconds the rates cover"},
            "pools": array(
                obj(
                    [
                        "name",
                        "policy",
                        "served",
                        "problem",
                        "members",
                        "up",
                        "down",
                        "held",
                        "drained",
                        "qps",
                        "redirects_per_s",
                    ],
                    {
                        "name": STRING,
                        "policy": STRING,
                        "served": BOOLEAN,
                        "problem": NULLABLE_STRING,
                        "members": INTEGER,
                        "up": INTEGER,
                        "down": INTEGER,
                        "held": {"type": "integer", "description": "down, held by flap damping"},
                        "drained": {"type": "integer", "description": "disabled or weight 0"},
                        "qps": NULLABLE_NUMBER,
                        "redirects_per_s": NULLABLE_NUMBER,
                    },
                )
            ),
            "next": NULLABLE_STRING,
        },
    ),
    "PoolState": obj(
        [
            "name",
            "version",
            "policy",
            "served",
            "problem",
            "qps",
            "redirects_per_s",
            "rates_span_s",
            "members",
        ],
        {
            "name": STRING,
            "version": INTEGER,
            "policy": STRING,
            "served": BOOLEAN,
            "problem": NULLABLE_STRING,
            "qps": NULLABLE_NUMBER,
            "redirects_per_s": NULLABLE_NUMBER,
            "rates_span_s": NUMBER,
            "members": array(
                {
                    "type": "object",
                    "description": "the Member document, and what the console shows of it",
                    "required": [
                        "address",
                        "weight",
                        "region",
                        "priority",
                        "enabled",
                        "effective_weight",
                        "state",
                        "detail",
                        "health",
                        "reason",
                        "since",
                        "held_until",
                        "probes",
                        "latency_ms",
                        "answers",
                        "answer_share",
                        "weight_share",
                    ],
                    "properties": {
                        "state": {"type": "string", "enum": ["up", "down", "held", "drained"]},
                        "health": STATUS,
                        "effective_weight": {"type": "integer", "nullable": True},
                        "since": {**TIME, "nullable": True},
                        "held_until": {**TIME, "nullable": True},
                        "probes": array(
                            obj(
                                ["probe", "status", "reason", "reported_at", "live"],
                                {
                                    "probe": STRING,
                                    "status": STATUS,
                                    "reason": STRING,
                                    "reported_at": TIME,
                                    "live": BOOLEAN,
                                },
                            )
                        ),
                        "latency_ms": NULLABLE_NUMBER,
                        "answers": {"type": "integer", "nullable": True},
                        "answer_share": NULLABLE_NUMBER,
                        "weight_share": NUMBER,
                    },
                }
            ),
        },
    ),
    "Nodes": obj(
        ["store_generation", "this_node", "nodes"],
        {
            "store_generation": INTEGER,
            "this_node": NULLABLE_STRING,
            "nodes": array(
                obj(
                    [
                        "name",
                        "version",
                        "started_at",
                        "last_seen",
                        "seconds_since_seen",
                        "snapshot_generation",
                        "store_generation",
                        "behind_since",
                        "flags",
                    ],
                    {
                        "name": STRING,
                        "version": STRING,
                        "started_at": TIME,
                        "last_seen": TIME,
                        "seconds_since_seen": NUMBER,
                        "snapshot_generation": INTEGER,
                        "store_generation": INTEGER,
                        "behind_since": {**TIME, "nullable": True},
                        "flags": array({"type": "string", "enum": ["silent", "behind"]}),
                    },
                )
            ),
        },
    ),
}
