"""/api/v1/tokens: admins issue, list and revoke API tokens (the CLI does the same locally).

Control plane. A new token is in the 201 response once and never again: only its hash
is stored.
"""

from __future__ import annotations

from aiohttp import web

from geodns.api.http import caller, read_object
from geodns.api.pools import store_of
from geodns.auth import issue_token
from geodns.errors import Problem, ValidationError

TOKEN_FIELDS = ("name", "role")


async def list_tokens(request: web.Request) -> web.Response:
    tokens = await store_of(request).list_tokens()
    return web.json_response(
        {
            "tokens": [
                {
                    "name": t.name,
                    "role": t.role,
                    "created_at": t.created_at.isoformat(),
                    "created_by": t.created_by,
                }
                for t in tokens
            ]
        }
    )


async def create_token(request: web.Request) -> web.Response:
    body = await read_object(request)
    unknown = [
        Problem(k, "unknown field; expected: name, role") for k in body if k not in TOKEN_FIELDS
    ]
    if unknown:
        raise ValidationError("token", unknown)
    name, role = body.get("name"), body.get("role")
    token = await issue_token(store_of(request), name, role, actor=caller(request).name)
    response = web.json_response({"name": name, "role": role, "token": token}, status=201)
    response.headers["Location"] = f"/api/v1/tokens/{name}"
    return response


async def revoke_token(request: web.Request) -> web.Response:
    # the API keeps one admin token: without one, only the local CLI could manage tokens
    await store_of(request).revoke_token(
        request.match_info["name"], actor=caller(request).name, keep_an_admin=True
    )
    return web.Response(status=204)
