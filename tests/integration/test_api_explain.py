"""/api/v1/explain through the real app with MaxMind's test GeoIP database: the answer a
client gets and why, agreeing with what the DNS listener answers the same client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dns.edns
import pytest
from api_client import Api, error_body, run_api, settings_for

GEO = "geo.example.test."
POOL = {
    "name": GEO,
    "members": [
        {"address": "192.0.2.11", "region": "eu"},
        {"address": "192.0.2.12", "region": "as"},
        {"address": "192.0.2.13", "region": "us"},
    ],
    "rules": [
        {"match": {"country": "GB"}, "regions": ["eu"]},
        {"match": {"continent": "AS"}, "regions": ["as", "us"]},
    ],
    "default_regions": ["us"],
}


@pytest.fixture
def serve(database_url: str, tmp_path: Path) -> Any:
    settings = settings_for(database_url, tmp_path, geo=True)
    return lambda body: run_api(settings, body)


async def explain(api: Api, query: str) -> Any:
    reply = await api.call("GET", f"/api/v1/explain?{query}", token="reader")
    assert reply.status == 200, reply
    return reply.body


def test_a_client_address_is_located_and_the_country_rule_explains_the_answer(serve):
    async def body(api: Api) -> None:
        await api.call("POST", "/api/v1/pools", POOL)
        got = await explain(api, f"name={GEO}&client=81.2.69.142&seed=1")
        assert {
            k: got[k]
            for k in ("client", "ecs", "seed", "rcode", "pool", "addresses", "ttl", "ecs_scope")
        } == {
            "client": "81.2.69.142/32",
            "ecs": False,
            "seed": 1,
            "rcode": "NOERROR",
            "pool": GEO,
            "addresses": ["192.0.2.11"],
            "ttl": 30,
            "ecs_scope": None,
        }
        assert got["answer"] == [{"name": GEO, "type": "A", "ttl": 30, "data": "192.0.2.11"}]
        assert got["location"] == {
            "country": "GB",
            "continent": "EU",
            "latitude": 51.5142,
            "longitude": -0.0931,
            "prefix": 31,
        }
        why = got["explanation"]
        assert (why["rule"], why["rule_reason"], why["policy"], why["selected"]) == (
            {"kind": "country", "value": "GB", "regions": ["eu"]},
            "country rule",
            "weighted",
            ["192.0.2.11"],
        )
        assert why["location"]["country"] == "GB"

    serve(body)


def test_explain_agrees_with_the_dns_answer_and_ecs_scope_and_names_exclusions(serve):
    async def body(api: Api) -> None:
        await api.call("POST", "/api/v1/pools", POOL)
        got = await explain(api, f"name={GEO}&ecs=67.43.156.0/24")
        reply = await api.query(GEO, "A", ecs="67.43.156.0/24")
        [option] = [o for o in reply.options if isinstance(o, dns.edns.ECSOption)]
        assert got["addresses"] == [rr.to_text() for rrset in reply.answer for rr in rrset]
        assert got["addresses"] == ["192.0.2.12"]
        assert got["ecs_scope"] == option.scopelen == 24
        assert (got["client"], got["ecs"]) == ("67.43.156.0/24", True)
        await api.call(
            "POST",
            "/api/v1/health/reports",
            {"reports": [{"address": "192.0.2.12", "status": "down", "reason": "http 503"}]},
            token="prober",
        )
        got = await explain(api, f"name={GEO}&ecs=67.43.156.0/24&type=A")
        assert got["addresses"] == ["192.0.2.13"]
        why = got["explanation"]
        assert why["rule_reason"] == "continent rule"
        assert [(r["region"], r["outcome"]) for r in why["regions"]] == [
            ("as", "down: no usable member"),
            ("us", "answered"),
        ]
        assert why["excluded"] == [{"address": "192.0.2.12", "reason": "down: http 503 (prober)"}]
        assert [m["status"] for m in why["regions"][0]["members"]] == ["down: http 503 (prober)"]
        reply = await api.query(GEO, "A", ecs="67.43.156.0/24")
        assert [rr.to_text() for rrset in reply.answer for rr in rrset] == ["192.0.2.13"]

    serve(body)


def test_the_seed_makes_a_weighted_answer_repeatable(serve):
    async def body(api: Api) -> None:
        doc = {
            "name": "w.example.test",
            "max_answers": 2,
            "members": [{"address": f"192.0.2.{i}"} for i in range(1, 9)],
        }
        await api.call("POST", "/api/v1/pools", doc)
        first = await explain(api, "name=w.example.test&client=192.0.2.200")
        again = await explain(api, f"name=w.example.test&client=192.0.2.200&seed={first['seed']}")
        assert len(first["addresses"]) == 2
        assert again["addresses"] == first["addresses"]
        answers = {
            tuple(
                (await explain(api, f"name=w.example.test&client=192.0.2.200&seed={s}"))[
                    "addresses"
                ]
            )
            for s in range(20)
        }
        assert len(answers) > 1

    serve(body)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "name=www.example.test&client=192.0.2.1",
            {
                "rcode": "NOERROR",
                "authoritative": True,
                "pool": None,
                "explanation": None,
                "addresses": ["192.0.2.10"],
                "ttl": 3600,
                "answer": [
                    {"name": "www.example.test.", "type": "A", "ttl": 3600, "data": "192.0.2.10"}
                ],
                "authority": [],
            },
        ),
        (
            "name=alias.example.test&client=192.0.2.1&type=aaaa",
            {
                "rcode": "NOERROR",
                "authoritative": True,
                "pool": None,
                "explanation": None,
                "addresses": ["2001:db8::10"],
                "ttl": 3600,
                "answer": [
                    {
                        "name": "alias.example.test.",
                        "type": "CNAME",
                        "ttl": 3600,
                        "data": "www.example.test.",
                    },
                    {
                        "name": "www.example.test.",
                        "type": "AAAA",
                        "ttl": 3600,
                        "data": "2001:db8::10",
                    },
                ],
                "authority": [],
            },
        ),
        (
            "name=nope.example.test&client=192.0.2.1",
            {
                "rcode": "NXDOMAIN",
                "authoritative": True,
                "pool": None,
                "explanation": None,
                "addresses": [],
                "ttl": None,
                "answer": [],
                "authority": [
                    {
                        "name": "example.test.",
                        "type": "SOA",
                        "ttl": 300,
                        "data": "ns1.example.test. hostmaster.example.test. 2026112201 7200 "
                        "3600 1209600 300",
                    }
                ],
            },
        ),
        (
            "name=www.elsewhere.invalid&client=192.0.2.1",
            {
                "rcode": "REFUSED",
                "authoritative": False,
                "pool": None,
                "explanation": None,
                "addresses": [],
                "ttl": None,
                "answer": [],
                "authority": [],
            },
        ),
    ],
    ids=["static", "cname", "nxdomain", "refused"],
)
def test_names_that_are_not_pools_show_what_the_zone_answers(serve, query, expected):
    async def body(api: Api) -> None:
        got = await explain(api, query)
        assert {k: got[k] for k in expected} == expected

    serve(body)


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        (
            "client=192.0.2.1",
            [
                {
                    "where": "name",
                    "message": "required: the name to ask for, such as www.example.com",
                }
            ],
        ),
        (
            "name=a..b&type=MX&client=192.0.2.1&ecs=10.0.0.0/8&seed=-1",
            [
                {
                    "where": "name",
                    "message": 'empty label in "a..b": write the name without doubled dots',
                },
                {"where": "type", "message": "must be A or AAAA, got 'MX'"},
                {
                    "where": "client",
                    "message": "give exactly one of client=ADDRESS or ecs=NETWORK/PREFIX",
                },
                {"where": "seed", "message": "must be a non-negative integer, got '-1'"},
            ],
        ),
        (
            "name=x.example.test&client=1.2.3",
            [{"where": "client", "message": "not an IPv4 or IPv6 address, got '1.2.3'"}],
        ),
        (
            "name=x.example.test&ecs=1.2.3.0/33",
            [
                {
                    "where": "ecs",
                    "message": "not a network such as 81.2.69.0/24 or 2001:db8::/56, "
                    "got '1.2.3.0/33'",
                }
            ],
        ),
    ],
    ids=["no-name", "several", "client", "ecs"],
)
def test_bad_parameters_are_422_naming_each_one(serve, query, errors):
    async def body(api: Api) -> None:
        reply = await api.call("GET", f"/api/v1/explain?{query}")
        assert (reply.status, reply.body) == (
            422,
            error_body("invalid explain query", errors),
        )

    serve(body)
