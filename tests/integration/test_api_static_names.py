"""A pool created over a name the zone file answers with A/AAAA (issue 12 §4): DNS used to
switch from the static records to the pool without a word; now the create is refused,
naming the field, unless the request says "replace_static": true."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_client import Api, error_body, run_api, settings_for

MEMBERS = [{"address": "192.0.2.51"}]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Any:
    return settings_for(database_url, tmp_path)


def static_refusal(name: str, types: str, zone_file: str) -> dict[str, Any]:
    message = (
        f"{name} has static {types} records in {zone_file}: the pool would answer instead "
        'of them; send "replace_static": true to mean that, or pick another name'
    )
    return error_body(f"invalid pool {name}", [{"where": "name", "message": message}])


@pytest.mark.parametrize(
    ("name", "types"),
    [("www.example.test.", "A and AAAA"), ("ns1.example.test.", "A")],
    ids=["a-and-aaaa", "a-only"],
)
def test_a_pool_over_static_addresses_is_refused_and_dns_keeps_them(settings, name, types):
    async def body(api: Api) -> None:
        zone_file = str(settings.zones / "example.test.zone")
        reply = await api.call("POST", "/api/v1/pools", {"name": name, "members": MEMBERS})
        assert (reply.status, reply.body) == (422, static_refusal(name, types, zone_file))
        assert (await api.call("GET", f"/api/v1/pools/{name}")).status == 404
        static = {"www.example.test.": {"192.0.2.10"}, "ns1.example.test.": {"127.0.0.53"}}
        assert await api.addresses(name) == static[name]

    run_api(settings, body)


def test_replace_static_true_lets_the_pool_answer_and_is_not_stored(settings):
    async def body(api: Api) -> None:
        doc = {"name": "www.example.test.", "members": MEMBERS, "replace_static": True}
        reply = await api.call("POST", "/api/v1/pools", doc)
        assert reply.status == 201
        assert "replace_static" not in reply.body
        stored = await api.call("GET", "/api/v1/pools/www.example.test.")
        assert stored.body == reply.body
        assert await api.addresses("www.example.test.") == {"192.0.2.51"}
        # later writes to the pool need no flag: it is the pool's name already
        patched = await api.call("PATCH", "/api/v1/pools/www.example.test.", {"ttl": 20})
        assert patched.status == 200

    run_api(settings, body)


def test_names_without_static_addresses_need_no_flag_and_a_bad_flag_is_named(settings):
    async def body(api: Api) -> None:
        # names the zone file has nothing at, or no address at (only a subdomain's)
        for name in ("lb.example.test.", "ent.wild.example.test."):
            reply = await api.call("POST", "/api/v1/pools", {"name": name, "members": MEMBERS})
            assert reply.status == 201, reply
        doc = {"name": "www.example.test.", "members": MEMBERS, "replace_static": "yes"}
        reply = await api.call("POST", "/api/v1/pools", doc)
        problem = {"where": "replace_static", "message": "must be true or false, got 'yes'"}
        assert (reply.status, reply.body) == (422, error_body("invalid pool request", [problem]))

    run_api(settings, body)
