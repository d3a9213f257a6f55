"""The component schemas of the DNSSEC operations (geodns.api.dnssec), as data.

Pure data; no I/O. geodns.api.openapi puts them beside geodns.api.schemas.SCHEMAS.
"""

from __future__ import annotations

from geodns.api.schemas import JSON, STRING, TIME, array, obj, ref

DNSSEC_SCHEMAS: JSON = {}

NULLABLE_TIME: JSON = {"type": "string", "format": "date-time", "nullable": True}
SECONDS: JSON = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
ALGORITHM: JSON = {
    "type": "integer",
    "enum": [13, 15],
    "description": "13 ECDSAP256SHA256, 15 ED25519",
}
DNSSEC_SCHEMAS["DnssecKey"] = obj(
    [
        "key_tag",
        "algorithm",
        "phase",
        "publish_at",
        "active_at",
        "retire_at",
        "remove_at",
        "dnskey",
        "ds",
    ],
    {
        "key_tag": {"type": "integer", "minimum": 0, "maximum": 65535},
        "algorithm": ALGORITHM,
        "phase": {
            "type": "string",
            "enum": ["scheduled", "published", "active", "retired", "removed"],
        },
        "publish_at": TIME,
        "active_at": TIME,
        "retire_at": NULLABLE_TIME,
        "remove_at": NULLABLE_TIME,
        "dnskey": {"type": "string", "description": 'DNSKEY rdata: "257 3 13 base64"'},
        "ds": {"type": "string", "description": 'DS rdata, SHA-256: "tag 13 2 HEX"'},
    },
)
DNSSEC_SCHEMAS["SignedZone"] = obj(
    [
        "zone",
        "algorithm",
        "algorithm_name",
        "dnskey_ttl_s",
        "propagation_delay_s",
        "parent_ds_ttl_s",
        "step",
        "next_step",
        "next_at",
        "keys",
        "ds",
    ],
    {
        "zone": STRING,
        "algorithm": ALGORITHM,
        "algorithm_name": STRING,
        "dnskey_ttl_s": SECONDS,
        "propagation_delay_s": SECONDS,
        "parent_ds_ttl_s": SECONDS,
        "step": {"type": "string", "enum": ["signed", "pre-publish", "switched", "removing"]},
        "next_step": {"type": "string", "description": "what happens next, and who acts"},
        "next_at": NULLABLE_TIME,
        "keys": array(ref("DnssecKey")),
        "ds": array({"type": "string", "description": "the DS records the parent should hold"}),
        "this_node": obj(
            ["signing", "problem"],
            {
                "signing": {"type": "boolean", "description": "this node signs its answers"},
                "problem": {**STRING, "nullable": True, "description": "why it does not"},
            },
        ),
    },
)
DNSSEC_SCHEMAS["SignedZones"] = obj(["zones"], {"zones": array(ref("SignedZone"))})
DNSSEC_SCHEMAS["DsRecords"] = obj(["zone", "ds"], {"zone": STRING, "ds": array(STRING)})
DNSSEC_SCHEMAS["DnssecEnable"] = obj(
    [],
    {
        "algorithm": ALGORITHM,
        "dnskey_ttl_s": {**SECONDS, "minimum": 1, "description": "default 3600"},
        "propagation_delay_s": {**SECONDS, "description": "default 300"},
        "parent_ds_ttl_s": {**SECONDS, "description": "default 86400"},
    },
)
DNSSEC_SCHEMAS["DnssecRollover"] = obj(
    [],
    {
        "algorithm": {**ALGORITHM, "description": "the zone's own (another: RFC 6781 §4.1.4)"},
        "ds_replaced": {
            "type": "boolean",
            "description": "the parent serves the new DS: schedule the old key's removal",
        },
    },
)
