"""/api/v1/dnssec: sign a zone, read its keys and DS, roll its key (the CLI does the same).

Control plane. The work is geodns.zone_keys'; this module reads the request and shapes
the response. Enabling and rolling need this node's dnssec_key_secret (503 without it:
the node, not the request, is what lacks it).
"""

from __future__ import annotations

from aiohttp import web

from geodns.api.http import JSON, HttpError, caller, read_object
from geodns.api.keys import CLOCK, PUBLISHER, SETTINGS, SNAPSHOTS
from geodns.api.pools import store_of
from geodns.dns import names
from geodns.dnssec.rollover import (
    DEFAULT_DNSKEY_TTL_S,
    DEFAULT_PARENT_DS_TTL_S,
    DEFAULT_PROPAGATION_DELAY_S,
)
from geodns.errors import ConfigError, Problem, ValidationError
from geodns.store.repository import ZoneSigning
from geodns.zone_keys import (
    algorithm_of,
    enable,
    rollover,
    seconds_of,
    status_document,
    zone_key,
)

ENABLE_FIELDS = ("algorithm", "dnskey_ttl_s", "propagation_delay_s", "parent_ds_ttl_s")
ROLLOVER_FIELDS = ("algorithm", "ds_replaced")


def _unknown(body: JSON, allowed: tuple[str, ...]) -> None:
    problems = [
        Problem(k, f"unknown field; expected: {', '.join(allowed)}")
        for k in body
        if k not in allowed
    ]
    if problems:
        raise ValidationError("dnssec request", problems)


def _secret(request: web.Request) -> str:
    return request.app[SETTINGS].dnssec_key_secret


async def _optional_body(request: web.Request) -> JSON:
    if not await request.read():
        return {}
    return await read_object(request)


def _document(request: web.Request, signing: ZoneSigning) -> JSON:
    """The zone's state, and whether this node signs its answers (and if not, why)."""
    document = status_document(signing, request.app[CLOCK]())
    served = request.app[SNAPSHOTS].current.signed.get(names.from_text(signing.policy.zone))
    if served is None:
        problem = "this node does not serve the zone signed yet (no zone file, or not reached)"
        document["this_node"] = {"signing": False, "problem": problem}
    else:
        document["this_node"] = {
            "signing": served.unavailable is None,
            "problem": served.unavailable,
        }
    return document


async def list_signed(request: web.Request) -> web.Response:
    zones = await store_of(request).list_signing()
    return web.json_response({"zones": [_document(request, z) for z in zones]})


async def get_status(request: web.Request) -> web.Response:
    signing = await store_of(request).get_signing(zone_key(request.match_info["zone"]))
    return web.json_response(_document(request, signing))


async def get_ds(request: web.Request) -> web.Response:
    signing = await store_of(request).get_signing(zone_key(request.match_info["zone"]))
    document = status_document(signing, request.app[CLOCK]())
    return web.json_response({"zone": document["zone"], "ds": document["ds"]})


async def enable_signing(request: web.Request) -> web.Response:
    body = await _optional_body(request)
    _unknown(body, ENABLE_FIELDS)
    served = {zone.origin_text.lower() for zone in request.app[PUBLISHER].zones.values()}
    try:
        signing = await enable(
            store_of(request),
            _secret(request),
            request.match_info["zone"],
            served,
            algorithm=algorithm_of(body.get("algorithm", 13)),
            dnskey_ttl_s=seconds_of(
                body.get("dnskey_ttl_s", DEFAULT_DNSKEY_TTL_S), "dnskey_ttl_s", 1
            ),
            propagation_delay_s=seconds_of(
                body.get("propagation_delay_s", DEFAULT_PROPAGATION_DELAY_S), "propagation_delay_s"
            ),
            parent_ds_ttl_s=seconds_of(
                body.get("parent_ds_ttl_s", DEFAULT_PARENT_DS_TTL_S), "parent_ds_ttl_s"
            ),
            actor=caller(request).name,
        )
    except ConfigError as exc:
        raise HttpError(503, str(exc)) from None
    document = _document(request, signing)
    response = web.json_response(document, status=201)
    response.headers["Location"] = f"/api/v1/dnssec/{document['zone']}"
    return response


async def roll_key(request: web.Request) -> web.Response:
    body = await _optional_body(request)
    _unknown(body, ROLLOVER_FIELDS)
    ds_replaced = body.get("ds_replaced", False)
    if not isinstance(ds_replaced, bool):
        raise ValidationError("dnssec request", [Problem("ds_replaced", "must be true or false")])
    algorithm = None if body.get("algorithm") is None else algorithm_of(body["algorithm"])
    try:
        signing = await rollover(
            store_of(request),
            _secret(request),
            request.match_info["zone"],
            algorithm=algorithm,
            ds_replaced=ds_replaced,
            actor=caller(request).name,
        )
    except ConfigError as exc:
        raise HttpError(503, str(exc)) from None
    return web.json_response(_document(request, signing))
