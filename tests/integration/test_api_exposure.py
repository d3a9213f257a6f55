"""What the API gives away and to whom (issue 12 §4): /metrics behind a token when
metrics_require_token is set, and the last admin token kept from being revoked through
the API, which would leave nobody to manage tokens but the local CLI."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from api_client import Api, error_body, run_api, settings_for

CHALLENGE = 'Bearer realm="geodns"'


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Any:
    return settings_for(database_url, tmp_path)


def test_metrics_are_public_by_default_and_need_any_token_with_metrics_require_token(settings):
    async def public(api: Api) -> None:
        reply = await api.call("GET", "/metrics", token=None)
        assert reply.status == 200 and "geodns_snapshot_generation" in reply.body

    async def guarded(api: Api) -> None:
        reply = await api.call("GET", "/metrics", token=None)
        assert reply.status == 401
        assert reply.headers["WWW-Authenticate"] == CHALLENGE
        for role in ("reader", "prober", "editor", "admin"):  # any valid token will do
            reply = await api.call("GET", "/metrics", token=role)
            assert reply.status == 200 and "geodns_snapshot_generation" in reply.body, role
        assert (await api.call("GET", "/healthz", token=None)).status == 200  # still public
        assert (await api.call("GET", "/readyz", token=None)).status == 200

    run_api(settings, public)
    run_api(replace(settings, metrics_require_token=True), guarded)


def test_the_last_admin_token_cannot_be_revoked_through_the_api(settings):
    async def body(api: Api) -> None:
        # the test app made one token per role; "admin" is the only admin
        reply = await api.call("DELETE", "/api/v1/tokens/admin")
        message = (
            "token admin is the last admin token: revoking it would leave nobody to manage "
            "tokens; create another admin token first (or revoke it locally: geodns token "
            "revoke NAME)"
        )
        assert (reply.status, reply.body) == (409, error_body(message))
        assert (await api.call("GET", "/api/v1/tokens")).status == 200  # it still works
        created = await api.call("POST", "/api/v1/tokens", {"name": "ops2", "role": "admin"})
        assert created.status == 201
        assert (await api.call("DELETE", "/api/v1/tokens/admin")).status == 204
        second = created.body["token"]
        reply = await api.call("DELETE", "/api/v1/tokens/ops2", token=second)
        assert reply.status == 409  # now ops2 is the last one
        assert (await api.call("DELETE", "/api/v1/tokens/reader", token=second)).status == 204

    run_api(settings, body)
