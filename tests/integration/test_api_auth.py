"""Bearer tokens through the real app: 401 without one, 403 for the wrong role, the public
routes, tokens issued and revoked over the API, and only hashes in the database."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from api_client import ROLES, Api, error_body, run_api, settings_for
from sqlalchemy import select

from geodns.api.auth_failures import AuthFailures
from geodns.api.keys import AUTH_FAILURES, STORE
from geodns.api.routes import ROUTES
from geodns.store import tables

PUBLIC = [r for r in ROUTES if r.roles is None]
GUARDED = [r for r in ROUTES if r.roles is not None]
CHALLENGE = 'Bearer realm="geodns"'


@pytest.fixture
def serve(database_url: str, tmp_path: Path) -> Any:
    settings = settings_for(database_url, tmp_path)
    return lambda body, configure=None: run_api(settings, body, configure)


def without_bad_token_limit(app: web.Application) -> None:
    """For a test that sends one bad token to every route: none of them is a 429."""
    app[AUTH_FAILURES] = AuthFailures(limit=len(ROUTES) + 10)


def concrete(path: str) -> str:
    return (
        path.replace("{name}", "lb.example.test.")
        .replace("{address}", "192.0.2.11")
        .replace("{zone}", "example.test.")
        .replace("{asset}", "console.js")
    )


@pytest.mark.parametrize("route", PUBLIC, ids=lambda r: f"{r.method} {r.path}")
def test_public_routes_answer_without_a_token(serve, route):
    async def body(api: Api) -> None:
        reply = await api.call(route.method, concrete(route.path), token=None)
        assert reply.status == 200

    serve(body)


@pytest.mark.parametrize(
    ("authorization", "error", "challenge"),
    [
        (
            None,
            "missing bearer token: send Authorization: Bearer TOKEN (geodns token create "
            "--role ROLE --name NAME)",
            CHALLENGE,
        ),
        (
            "Basic YTpi",
            "missing bearer token: send Authorization: Bearer TOKEN (geodns token "
            "create --role ROLE --name NAME)",
            CHALLENGE,
        ),
        (
            "Bearer gdns_not-a-token",
            "unknown or revoked token",
            f'{CHALLENGE}, error="invalid_token"',
        ),
        (
            "Bearer ",
            "missing bearer token: send Authorization: Bearer TOKEN (geodns token "
            "create --role ROLE --name NAME)",
            CHALLENGE,
        ),
    ],
    ids=["none", "basic", "unknown", "empty"],
)
def test_a_request_without_a_valid_token_is_401_with_a_bearer_challenge(
    serve, authorization, error, challenge
):
    async def body(api: Api) -> None:
        headers = {} if authorization is None else {"Authorization": authorization}
        for route in GUARDED:
            reply = await api.call(route.method, concrete(route.path), token=None, headers=headers)
            assert (reply.status, reply.body) == (401, error_body(error)), route
            assert reply.headers["WWW-Authenticate"] == challenge
        unknown = await api.call("GET", "/api/v1/nothing", token=None, headers=headers)
        assert unknown.status == 401

    serve(body, without_bad_token_limit)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_its_routes(serve, role):
    async def body(api: Api) -> None:
        for route in GUARDED:
            reply = await api.call(route.method, concrete(route.path), {}, token=role)
            if role in route.roles:
                assert reply.status not in (401, 403), (route, reply)
            else:
                allowed = ", ".join(sorted(route.roles))
                assert (reply.status, reply.body) == (
                    403,
                    error_body(
                        f"token {role} has role {role}; {route.method} {route.path} "
                        f"needs one of: {allowed}"
                    ),
                ), route

    serve(body)


def test_unknown_routes_and_methods_are_json_errors(serve):
    async def body(api: Api) -> None:
        missing = await api.call("GET", "/api/v1/nothing")
        assert (missing.status, missing.body) == (404, error_body("Not Found"))
        wrong = await api.call("POST", "/api/v1/zones")
        assert (wrong.status, wrong.body) == (405, error_body("Method Not Allowed"))
        assert wrong.headers["Allow"] == "GET"

    serve(body)


def test_tokens_issued_over_the_api_work_until_revoked_and_only_their_hash_is_kept(serve):
    async def body(api: Api) -> None:
        issued = await api.call("POST", "/api/v1/tokens", {"name": "probe-eu1", "role": "prober"})
        assert issued.status == 201
        token = issued.body.pop("token")
        assert issued.body == {"name": "probe-eu1", "role": "prober"}
        assert issued.headers["Location"] == "/api/v1/tokens/probe-eu1"
        assert token.startswith("gdns_") and len(token) >= 40
        works = await api.call(
            "POST",
            "/api/v1/health/reports",
            {"reports": [{"address": "192.0.2.1", "status": "up"}]},
            token=token,
        )
        assert works.body["probe"] == "probe-eu1"
        listed = await api.call("GET", "/api/v1/tokens")
        assert [sorted(t) for t in listed.body["tokens"]] == [
            ["created_at", "created_by", "name", "role"]
        ] * 5
        assert [(t["name"], t["role"], t["created_by"]) for t in listed.body["tokens"]][-1] == (
            "reader",
            "reader",
            "local",
        )
        assert ("probe-eu1", "admin") in [
            (t["name"], t["created_by"]) for t in listed.body["tokens"]
        ]
        async with api.app[STORE]._read() as conn:
            rows = (await conn.execute(select(tables.api_tokens))).all()
        assert all(token not in repr(tuple(row)) for row in rows)
        [row] = [r for r in rows if r.name == "probe-eu1"]
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        revoked = await api.call("DELETE", "/api/v1/tokens/probe-eu1")
        assert revoked.status == 204
        after = await api.call("GET", "/api/v1/health/failed", token=token)
        assert (after.status, after.body) == (401, error_body("unknown or revoked token"))
        again = await api.call("DELETE", "/api/v1/tokens/probe-eu1")
        assert (again.status, again.body) == (404, error_body("no token probe-eu1"))
        taken = await api.call("POST", "/api/v1/tokens", {"name": "admin", "role": "reader"})
        assert (taken.status, taken.body) == (
            409,
            error_body("token admin already exists: revoke it first or pick a new name"),
        )
        bad = await api.call("POST", "/api/v1/tokens", {"name": "-x", "role": "root", "y": 1})
        assert (bad.status, bad.body) == (
            422,
            error_body(
                "invalid token", [{"where": "y", "message": "unknown field; expected: name, role"}]
            ),
        )
        bad = await api.call("POST", "/api/v1/tokens", {"name": "-x", "role": "root"})
        assert bad.body["problems"] == [
            {
                "where": "name",
                "message": "must be 1 to 64 letters, digits, '_', '.' or '-', "
                "starting with a letter or digit, got '-x'",
            },
            {
                "where": "role",
                "message": "must be one of admin, editor, prober, reader; got 'root'",
            },
        ]
        log = await api.call("GET", "/api/v1/audit?target=tokens/probe-eu1")
        assert [
            (e["actor"], e["action"], e["before"], e["after"]) for e in log.body["entries"]
        ] == [
            ("admin", "token.revoke", {"name": "probe-eu1", "role": "prober"}, None),
            ("admin", "token.create", None, {"name": "probe-eu1", "role": "prober"}),
        ]

    serve(body)
