"""/api/v1/dnssec through the real app on SQLite and PostgreSQL: admin signs a served zone
and rolls its key step by step; readers read; refusals name the field or the step."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import dns.asyncquery
import dns.dnssec
import dns.message
import dns.name
import dns.rdata
import dns.rdatatype
import pytest
from api_client import Api, run_api, settings_for
from dnssec_checks import validate_message


@pytest.fixture
def serve(database_url: str, tmp_path: Path) -> Any:
    settings = settings_for(database_url, tmp_path)
    return lambda body, **changes: run_api(replace(settings, **changes), body)


def test_admin_signs_a_zone_and_every_reader_sees_its_key_and_ds(serve):
    async def body(api: Api) -> None:
        reply = await api.call("POST", "/api/v1/dnssec/example.test", {"algorithm": 15})
        assert reply.status == 201, reply
        assert reply.headers["Location"] == "/api/v1/dnssec/example.test."
        document = reply.body
        assert (document["zone"], document["algorithm"], document["step"]) == (
            "example.test.",
            15,
            "signed",
        )
        [key] = document["keys"]
        assert key["phase"] == "active"
        dnskey = dns.rdata.from_text("IN", "DNSKEY", key["dnskey"])
        ds = dns.dnssec.make_ds(dns.name.from_text("example.test."), dnskey, "SHA256")
        assert document["ds"] == [f"example.test. IN DS {ds.to_text().upper()}"]

        async def signing_here() -> bool:
            status = await api.call("GET", "/api/v1/dnssec/example.test.", token="reader")
            return bool(status.body["this_node"] == {"signing": True, "problem": None})

        await api.eventually(signing_here, within_s=5)  # the store change reached the node
        document["this_node"] = {"signing": True, "problem": None}
        for role in ("reader", "editor", "admin"):
            status = await api.call("GET", "/api/v1/dnssec/example.test.", token=role)
            assert (status.status, status.body) == (200, document)
        listing = await api.call("GET", "/api/v1/dnssec", token="reader")
        assert listing.body == {"zones": [document]}
        ds_reply = await api.call("GET", "/api/v1/dnssec/example.test/ds", token="reader")
        assert ds_reply.body == {"zone": "example.test.", "ds": document["ds"]}
        [audit] = (await api.call("GET", "/api/v1/audit?action=dnssec.enable")).body["entries"]
        assert audit["actor"] == "admin"

    serve(body)


@pytest.mark.parametrize("role", ["editor", "reader", "prober"])
def test_only_admin_signs_and_rolls(serve, role):
    async def body(api: Api) -> None:
        for path in ("/api/v1/dnssec/example.test.", "/api/v1/dnssec/example.test./rollover"):
            assert (await api.call("POST", path, {}, token=role)).status == 403

    serve(body)


@pytest.mark.parametrize(
    "zone, payload, field",
    [
        ("example.test.", {"algorithm": 8}, "algorithm"),
        ("example.test.", {"algorithm": "13x"}, "algorithm"),
        ("example.test.", {"dnskey_ttl_s": 0}, "dnskey_ttl_s"),
        ("example.test.", {"propagation_delay_s": -1}, "propagation_delay_s"),
        ("example.test.", {"keys": 2}, "keys"),
        ("nowhere.test.", {}, "zone"),
    ],
    ids=["rsa", "not-a-number", "ttl-zero", "negative-delay", "unknown-field", "not-served"],
)
def test_enable_refuses_bad_requests_naming_the_field(serve, zone, payload, field):
    async def body(api: Api) -> None:
        reply = await api.call("POST", f"/api/v1/dnssec/{zone}", payload)
        assert reply.status == 422, reply
        assert [e["where"] for e in reply.body["problems"]] == [field]
        assert (await api.call("GET", f"/api/v1/dnssec/{zone}")).status == 404

    serve(body)


def test_the_node_signs_its_answers_once_the_zone_is_enabled(serve):
    async def body(api: Api) -> None:
        query = dns.message.make_query("www.example.test.", "A", want_dnssec=True)

        async def answer() -> dns.message.Message:
            return await dns.asyncquery.udp(query, api.dns[0], port=api.dns[1], timeout=2)

        assert [r.rdtype for r in (await answer()).answer] == [dns.rdatatype.A]  # not signed
        created = await api.call("POST", "/api/v1/dnssec/example.test.", {})
        assert created.status == 201

        async def signed() -> bool:
            return any(r.rdtype == dns.rdatatype.RRSIG for r in (await answer()).answer)

        await api.eventually(signed, within_s=5)
        reply = await answer()
        keys = await dns.asyncquery.udp(
            dns.message.make_query("example.test.", "DNSKEY", want_dnssec=True),
            api.dns[0],
            port=api.dns[1],
            timeout=2,
        )
        dnskeys = {dns.name.from_text("example.test."): keys.answer[0]}
        good, unsigned = validate_message(reply, dnskeys, time.time())
        assert (good, unsigned) == ([("www.example.test.", "A")], [])

    serve(body)


def test_a_node_without_the_secret_cannot_sign_and_says_why(serve):
    async def body(api: Api) -> None:
        reply = await api.call("POST", "/api/v1/dnssec/example.test.", {})
        assert reply.status == 503
        assert "needs dnssec_key_secret" in reply.body["error"]
        assert "GEODNS_DNSSEC_KEY_SECRET" in reply.body["error"]

    serve(body, dnssec_key_secret="")


def test_a_rollover_through_the_api_step_by_step(serve):
    async def body(api: Api) -> None:
        created = await api.call(
            "POST",
            "/api/v1/dnssec/example.test.",
            {"dnskey_ttl_s": 1, "propagation_delay_s": 0, "parent_ds_ttl_s": 1},
        )
        assert created.status == 201
        refused = await api.call("POST", "/api/v1/dnssec/example.test./rollover", {"algorithm": 15})
        assert refused.status == 422
        assert "RFC 6781 §4.1.4" in refused.body["problems"][0]["message"]
        early = await api.call(
            "POST", "/api/v1/dnssec/example.test./rollover", {"ds_replaced": True}
        )
        assert early.status == 409 and "no key waiting" in early.body["error"]

        started = await api.call("POST", "/api/v1/dnssec/example.test./rollover", {})
        assert started.status == 200 and started.body["step"] == "pre-publish", started
        old_tag = created.body["keys"][0]["key_tag"]
        new_tag = started.body["keys"][1]["key_tag"]
        assert [k["phase"] for k in started.body["keys"]] == ["active", "published"]
        assert started.body["ds"] == created.body["ds"]  # the parent keeps the old DS for now
        again = await api.call("POST", "/api/v1/dnssec/example.test./rollover", {})
        assert again.status == 409 and "in a rollover already" in again.body["error"]

        async def step(name: str) -> bool:
            reply = await api.call("GET", "/api/v1/dnssec/example.test.", token="reader")
            return bool(reply.body["step"] == name)

        await api.eventually(lambda: step("switched"), within_s=5)
        switched = (await api.call("GET", "/api/v1/dnssec/example.test.")).body
        assert [(k["key_tag"], k["phase"]) for k in switched["keys"]] == [
            (old_tag, "retired"),
            (new_tag, "active"),
        ]
        assert switched["ds"] == [f"example.test. IN DS {switched['keys'][1]['ds']}"]
        confirmed = await api.call(
            "POST", "/api/v1/dnssec/example.test./rollover", {"ds_replaced": True}
        )
        assert confirmed.status == 200 and confirmed.body["step"] == "removing", confirmed
        await api.eventually(lambda: step("signed"), within_s=5)
        final = (await api.call("GET", "/api/v1/dnssec/example.test.")).body
        assert [k["phase"] for k in final["keys"]] == ["removed", "active"]

    serve(body)
