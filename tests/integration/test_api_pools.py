"""/api/v1/pools and its members through the real app and database: CRUD, validation,
versions, pagination, and changes reaching DNS answers before the response returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_client import Api, error_body, run_api, settings_for
from sqlalchemy import func, select

from geodns.api.keys import STORE
from geodns.store import tables

LB = "lb.example.test."
POOL: dict[str, Any] = {
    "name": "lb.example.test",
    "default_regions": ["us", "eu"],
    "members": [
        {"address": "192.0.2.11", "region": "eu"},
        {"address": "192.0.2.12", "region": "us", "weight": 50},
    ],
    "rules": [{"match": {"country": "GB"}, "regions": ["eu", "us"]}],
}
STORED = {
    "name": LB,
    "ttl": 30,
    "policy": "weighted",
    "max_answers": 1,
    "min_healthy_fraction": 0.0,
    "fail_open": True,
    "default_regions": ["us", "eu"],
    "members": [
        {"address": "192.0.2.11", "weight": 100, "region": "eu", "priority": 0, "enabled": True},
        {"address": "192.0.2.12", "weight": 50, "region": "us", "priority": 0, "enabled": True},
    ],
    "rules": [{"match": {"country": "GB"}, "regions": ["eu", "us"]}],
}


@pytest.fixture
def serve(database_url: str, tmp_path: Path) -> Any:
    settings = settings_for(database_url, tmp_path)
    return lambda body: run_api(settings, body)


async def audit_rows(api: Api) -> int:
    async with api.app[STORE]._read() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(tables.audit_log))).scalar_one()
        )


def test_created_pool_reads_back_with_etag_and_location_and_answers_dns_at_once(serve):
    async def body(api: Api) -> None:
        created = await api.call("POST", "/api/v1/pools", POOL, token="editor")
        assert (created.status, created.body) == (201, STORED)
        assert created.headers["Location"] == f"/api/v1/pools/{LB}"
        assert created.headers["ETag"] == '"1"'
        # refreshed before the response: no polling needed
        assert await api.addresses(LB) <= {"192.0.2.11", "192.0.2.12"}
        assert await api.addresses(LB) != set()
        read = await api.call("GET", "/api/v1/pools/LB.example.test", token="reader")
        assert (read.status, read.body, read.headers["ETag"]) == (200, STORED, '"1"')

    serve(body)


def test_creating_an_existing_pool_is_409_and_writes_no_audit_row(serve):
    async def body(api: Api) -> None:
        await api.call("POST", "/api/v1/pools", POOL)
        before = await audit_rows(api)
        again = await api.call("POST", "/api/v1/pools", POOL)
        assert (again.status, again.body) == (409, error_body(f"pool {LB} already exists"))
        assert await audit_rows(api) == before

    serve(body)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (
            "{not json",
            "body is not valid JSON: Expecting property name enclosed in double quotes:"
            " line 1 column 2 (char 1)",
        ),
        ("[1, 2]", "body must be a JSON object, got list"),
        ("null", "body must be a JSON object, got null"),
        ("", "body is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
    ],
    ids=["unparseable", "array", "null", "empty"],
)
def test_a_body_that_is_not_a_json_object_is_400(serve, data, error):
    async def body(api: Api) -> None:
        reply = await api.call("POST", "/api/v1/pools", data=data)
        assert (reply.status, reply.body) == (400, error_body(error))

    serve(body)


def test_every_invalid_field_is_listed_in_one_422(serve):
    bad = {
        "name": "lb.example.test",
        "ttl": 0,
        "policy": "fastest",
        "members": [
            {"address": "192.0.2.1"},
            {"address": "192.0.2.1"},
            {"address": "not-an-ip", "weight": -1},
        ],
        "colour": "blue",
    }

    async def body(api: Api) -> None:
        reply = await api.call("POST", "/api/v1/pools", bad)
        assert reply.status == 422
        assert reply.body == error_body(
            "invalid pool lb.example.test",
            [
                {
                    "where": "colour",
                    "message": "unknown field; expected one of: name, ttl, "
                    "policy, max_answers, min_healthy_fraction, fail_open, default_regions, "
                    "members, rules, check",
                },
                {"where": "ttl", "message": "must be an integer from 1 to 3600, got 0"},
                {
                    "where": "policy",
                    "message": "must be one of weighted, nearest, sticky, "
                    'round_robin, failover, adaptive; got "fastest"',
                },
                {
                    "where": "members[1].address",
                    "message": "192.0.2.1 is already members[0]; list each address once per pool",
                },
                {
                    "where": "members[2].address",
                    "message": 'not an IPv4 or IPv6 address, got "not-an-ip"',
                },
                {
                    "where": "members[2].weight",
                    "message": "must be an integer from 0 to 65535, got -1",
                },
            ],
        )

    serve(body)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "www.elsewhere.invalid",
            "www.elsewhere.invalid. is not inside a served zone "
            "(served: example.test., other.test.)",
        ),
        (
            "alias.example.test",
            "alias.example.test. cannot be a pool: the zone file has a CNAME "
            "at this name (RFC 1034 §3.6.2)",
        ),
        (
            "www.child.example.test",
            "www.child.example.test. cannot be a pool: below the delegation child.example.test.",
        ),
    ],
    ids=["outside-served-zones", "cname-at-the-name", "below-a-delegation"],
)
def test_a_pool_the_zones_cannot_serve_is_422_on_name(serve, name, message):
    async def body(api: Api) -> None:
        reply = await api.call("POST", "/api/v1/pools", {**POOL, "name": name})
        assert (reply.status, reply.body) == (
            422,
            error_body(f"invalid pool {name}.", [{"where": "name", "message": message}]),
        )

    serve(body)


def test_put_replaces_and_bumps_the_version_and_if_match_guards_it(serve):
    async def body(api: Api) -> None:
        await api.call("POST", "/api/v1/pools", POOL)
        two = {
            **POOL,
            "members": [
                {"address": "192.0.2.13", "region": "eu"},
                {"address": "192.0.2.14", "region": "us"},
            ],
        }
        del two["name"]  # the URL names the pool
        put = await api.call("PUT", f"/api/v1/pools/{LB}", two, headers={"If-Match": '"1"'})
        assert (put.status, put.headers["ETag"]) == (200, '"2"')
        assert await api.addresses(LB) <= {"192.0.2.13", "192.0.2.14"}
        stale = await api.call("PUT", f"/api/v1/pools/{LB}", two, headers={"If-Match": '"1"'})
        assert (stale.status, stale.body, stale.headers["ETag"]) == (
            412,
            error_body(f"pool {LB} is at version 2, not 1: read it again and retry"),
            '"2"',
        )
        weak = await api.call("PUT", f"/api/v1/pools/{LB}", two, headers={"If-Match": 'W/"2"'})
        assert weak.status == 412
        either = await api.call("PUT", f"/api/v1/pools/{LB}", two, headers={"If-Match": '"1", "2"'})
        assert (either.status, either.headers["ETag"]) == (200, '"3"')
        star = await api.call("DELETE", f"/api/v1/pools/{LB}", headers={"If-Match": "*"})
        assert star.status == 204

    serve(body)


def test_put_cannot_rename_a_pool(serve):
    async def body(api: Api) -> None:
        await api.call("POST", "/api/v1/pools", POOL)
        reply = await api.call("PUT", f"/api/v1/pools/{LB}", {**POOL, "name": "x.example.test"})
        assert (reply.status, reply.body) == (
            422,
            error_body(
                f"invalid pool {LB}",
                [
                    {
                        "where": "name",
                        "message": f"must be {LB}, the pool of the URL (to "
                        "rename: create the new pool, then delete this one), got "
                        "'x.example.test'",
                    }
                ],
            ),
        )

    serve(body)


def test_patch_is_a_json_merge_patch_validated_as_a_whole(serve):
    async def body(api: Api) -> None:
        await api.call("POST", "/api/v1/pools", POOL)
        patched = await api.call(
            "PATCH",
            f"/api/v1/pools/{LB}",
            {"ttl": 5, "rules": None, "default_regions": None},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        expected = {**STORED, "ttl": 5, "rules": []}
        del expected["default_regions"]
        assert (patched.status, patched.body, patched.headers["ETag"]) == (200, expected, '"2"')
        # removing the eu member's region leaves the rule naming a region with no members
        broken = await api.call(
            "PATCH",
            f"/api/v1/pools/{LB}",
            {"rules": POOL["rules"], "members": [POOL["members"][1]]},
        )
        assert (broken.status, broken.body) == (
            422,
            error_body(
                f"invalid pool {LB}",
                [
                    {
                        "where": "rules[0].regions[0]",
                        "message": 'region "eu" has no members (regions with members: us)',
                    }
                ],
            ),
        )
        assert (await api.call("GET", f"/api/v1/pools/{LB}")).headers["ETag"] == '"2"'

    serve(body)


def test_missing_pools_are_404(serve):
    async def body(api: Api) -> None:
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            reply = await api.call(method, "/api/v1/pools/none.example.test", {"ttl": 5})
            assert (reply.status, reply.body) == (404, error_body("no pool none.example.test."))

    serve(body)


def test_list_filters_by_zone_and_pages_with_an_opaque_cursor(serve):
    async def body(api: Api) -> None:
        names = [f"p{i}.example.test" for i in range(5)] + ["lb.other.test"]
        for name in names:
            doc = {"name": name, "members": [{"address": "192.0.2.1"}]}
            assert (await api.call("POST", "/api/v1/pools", doc)).status == 201
        seen: list[str] = []
        path: str | None = "/api/v1/pools?zone=example.test&limit=2"
        pages = 0
        while path is not None:
            reply = await api.call("GET", path, token="reader")
            assert reply.status == 200
            seen += [p["name"] for p in reply.body["pools"]]
            path = reply.body["next"]
            if path is not None:
                assert reply.headers["Link"] == f'<{path}>; rel="next"'
            pages += 1
        assert seen == [f"p{i}.example.test." for i in range(5)]
        assert pages == 3
        bad = await api.call("GET", "/api/v1/pools?limit=0&cursor=zzz&zone=-bad-")
        assert (bad.status, bad.body) == (
            422,
            error_body(
                "invalid query",
                [
                    {"where": "limit", "message": "must be an integer from 1 to 1000, got '0'"},
                    {"where": "cursor", "message": "not a cursor from a previous page's next link"},
                    {
                        "where": "zone",
                        "message": "label \"-bad-\" must be letters, digits, '-' and "
                        "'_', not starting or ending with '-' (internationalised names: "
                        "use the xn-- form)",
                    },
                ],
            ),
        )

    serve(body)


def test_draining_one_member_by_merge_patch_takes_it_out_of_dns_answers(serve):
    async def body(api: Api) -> None:
        await api.call("POST", "/api/v1/pools", POOL)
        drained = await api.call(
            "PATCH", f"/api/v1/pools/{LB}/members/192.0.2.12", {"weight": 0}, token="editor"
        )
        assert (drained.status, drained.headers["ETag"]) == (200, '"2"')
        assert drained.body == {
            "address": "192.0.2.12",
            "weight": 0,
            "region": "us",
            "priority": 0,
            "enabled": True,
        }
        for _ in range(20):
            assert await api.addresses(LB) == {"192.0.2.11"}

    serve(body)


def test_member_put_adds_then_replaces_and_delete_revalidates_the_pool(serve):
    async def body(api: Api) -> None:
        await api.call("POST", "/api/v1/pools", POOL)
        path = f"/api/v1/pools/{LB}/members/2001:DB8::1"
        added = await api.call("PUT", path, {"region": "us"})
        assert (added.status, added.headers["ETag"]) == (201, '"2"')
        assert added.headers["Location"] == f"/api/v1/pools/{LB}/members/2001:db8::1"
        assert await api.addresses(LB, "AAAA") == {"2001:db8::1"}
        replaced = await api.call("PUT", path, {"region": "us", "weight": 7})
        assert (replaced.status, replaced.body["weight"]) == (200, 7)
        wrong = await api.call("PUT", path, {"address": "192.0.2.99"})
        assert (wrong.status, wrong.body) == (
            422,
            error_body(
                "invalid member",
                [
                    {
                        "where": "address",
                        "message": "must be 2001:db8::1, the member of the URL, got '192.0.2.99'",
                    }
                ],
            ),
        )
        listed = await api.call("GET", f"/api/v1/pools/{LB}/members", token="prober")
        assert [m["address"] for m in listed.body["members"]] == [
            "192.0.2.11",
            "192.0.2.12",
            "2001:db8::1",
        ]
        # the rule and default_regions name "eu": its only member cannot go
        refused = await api.call("DELETE", f"/api/v1/pools/{LB}/members/192.0.2.11")
        assert refused.status == 422
        assert refused.body["problems"][0] == {
            "where": "default_regions[1]",
            "message": 'region "eu" has no members (regions with members: us)',
        }
        gone = await api.call("DELETE", path)
        assert (gone.status, gone.headers["ETag"]) == (204, '"4"')
        assert await api.addresses(LB, "AAAA") == set()
        missing = await api.call("GET", path)
        assert (missing.status, missing.body) == (
            404,
            error_body(f"pool {LB} has no member 2001:db8::1"),
        )

    serve(body)


def test_every_change_is_in_the_audit_log_with_before_and_after(serve):
    async def body(api: Api) -> None:
        await api.call("POST", "/api/v1/pools", POOL, token="editor")
        await api.call(
            "PATCH", f"/api/v1/pools/{LB}/members/192.0.2.12", {"enabled": False}, token="editor"
        )
        await api.call("DELETE", f"/api/v1/pools/{LB}", token="editor")
        log = await api.call("GET", "/api/v1/audit?actor=editor")
        assert [(e["action"], e["target"]) for e in log.body["entries"]] == [
            ("pool.delete", f"pools/{LB}"),
            ("member.replace", f"pools/{LB}/members/192.0.2.12"),
            ("pool.create", f"pools/{LB}"),
        ]
        delete, member, create = log.body["entries"]
        assert (create["before"], create["after"]) == (None, STORED)
        assert (member["before"]["enabled"], member["after"]["enabled"]) == (True, False)
        assert delete["before"]["members"][1]["enabled"] is False
        assert delete["after"] is None
        page = await api.call("GET", "/api/v1/audit?actor=editor&limit=2")
        older = await api.call("GET", page.body["next"])
        assert [e["action"] for e in older.body["entries"]] == ["pool.create"]
        assert older.body["next"] is None
        member_only = await api.call("GET", f"/api/v1/audit?target=pools/{LB}/members/")
        assert [e["action"] for e in member_only.body["entries"]] == ["member.replace"]

    serve(body)


def test_member_urls_are_stored_and_given_to_every_member_or_none(serve):
    async def body(api: Api) -> None:
        pool = {
            **POOL,
            "members": [
                {**POOL["members"][0], "url": "https://eu1.example.test/files"},
                {**POOL["members"][1], "url": "http://192.0.2.12:8080"},
            ],
        }
        created = await api.call("POST", "/api/v1/pools", pool, token="editor")
        assert created.status == 201
        read = await api.call("GET", f"/api/v1/pools/{LB}", token="reader")
        assert [m.get("url") for m in read.body["members"]] == [
            "https://eu1.example.test/files",
            "http://192.0.2.12:8080",
        ]
        member = f"/api/v1/pools/{LB}/members/192.0.2.12"
        bad = await api.call("PATCH", member, {"url": "ftp://192.0.2.12"}, token="editor")
        assert bad.status == 422
        assert [(e["where"], e["message"]) for e in bad.body["problems"]] == [
            (
                "url",
                "must start with http:// or https:// such as https://eu1.example.com or "
                'http://192.0.2.1:8080/files, got "ftp://192.0.2.12"',
            )
        ]
        # null removes the url (RFC 7396), which leaves the other member's alone: refused
        removed = await api.call("PATCH", member, {"url": None}, token="editor")
        assert removed.status == 422
        assert [(e["where"], e["message"]) for e in removed.body["problems"]] == [
            (
                "members[1].url",
                "required because members[0] has one: the HTTP redirector may choose any "
                "member, so give every member a url, or none",
            )
        ]
        moved = await api.call("PATCH", member, {"url": "https://us1.example.test"})
        assert (moved.status, moved.body["url"]) == (200, "https://us1.example.test")

    serve(body)


def test_a_check_with_unit_less_fields_is_accepted_with_a_warning_and_kept_in_seconds(
    serve, caplog
):
    check = {"type": "tcp", "port": 80, "interval": 5, "timeout": 1}
    warnings = [
        '299 - "check.interval: deprecated: write interval_s (seconds)"',
        '299 - "check.timeout: deprecated: write timeout_s (seconds)"',
    ]

    async def body(api: Api) -> None:
        created = await api.call("POST", "/api/v1/pools", {**POOL, "check": check})
        assert created.status == 201, created
        assert created.headers.getall("Warning") == warnings
        shown = created.body["check"]
        assert (shown["interval_s"], shown["timeout_s"]) == (5.0, 1.0)
        assert "interval" not in shown and "timeout" not in shown
        # PATCH with the old spelling replaces the field, not sits beside the new one
        patched = await api.call("PATCH", f"/api/v1/pools/{LB}", {"check": {"interval": 7}})
        assert patched.status == 200, patched
        assert patched.headers.getall("Warning") == warnings[:1]
        assert patched.body["check"]["interval_s"] == 7.0
        replaced = await api.call(
            "PUT", f"/api/v1/pools/{LB}", {**POOL, "check": {**check, "interval": 3}}
        )
        assert replaced.status == 200 and replaced.body["check"]["interval_s"] == 3.0
        clean = await api.call(
            "PUT", f"/api/v1/pools/{LB}", {**POOL, "check": {"type": "tcp", "port": 80}}
        )
        assert "Warning" not in clean.headers

    serve(body)
    logged = [r.getMessage() for r in caplog.records if "deprecated field" in r.getMessage()]
    assert [m.split(" route=")[0] for m in logged] == [  # each kind once per process
        "api request uses a deprecated field where=check.interval deprecated: write "
        "interval_s (seconds)",
        "api request uses a deprecated field where=check.timeout deprecated: write "
        "timeout_s (seconds)",
    ]
