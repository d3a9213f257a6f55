"""POST /api/v1/cookies/rotate through the real app on SQLite and PostgreSQL: an admin
rotates the DNS cookie secret every node shares (as `geodns cookies rotate` does); a
second node on the same database takes the new secret; other roles get 403 and change
nothing. RFC 9018 §4.3: a cookie lives an hour, so the previous secret verifies for one."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from api_client import Api, run_api, serve_api, settings_for

from geodns.api.keys import SNAPSHOTS
from geodns.dns.cookie import CookieSecrets
from geodns.store.repository import Store

ROTATE = "/api/v1/cookies/rotate"


async def stored_secrets(database_url: str) -> CookieSecrets:
    """The secrets as another store (any other node's) reads them."""
    store = await Store.open(database_url)
    try:
        secrets = await store.load_cookie_secrets()
    finally:
        await store.close()
    assert secrets is not None, "the first start makes the secret"
    return secrets


def test_admin_rotates_and_a_second_node_takes_the_new_secret(database_url: str, tmp_path: Path):
    first = settings_for(database_url, tmp_path / "a")
    second = settings_for(database_url, tmp_path / "b")

    async def body(a: Api) -> None:
        async def on_node_b(b: Api) -> None:
            before = await stored_secrets(database_url)
            started = time.time()
            # b's start issued the role tokens anew; they are the database's, so a takes them
            reply = await a.call("POST", ROTATE, token=b.tokens["admin"])
            assert reply.status == 200, reply
            assert set(reply.body) == {
                "rotated",
                "previous_accepted_until",
                "previous_accepted_for_s",
            }
            assert reply.body["rotated"] is True and reply.body["previous_accepted_for_s"] == 3600
            until = datetime.fromisoformat(reply.body["previous_accepted_until"]).timestamp()
            assert started + 3590 < until < time.time() + 3610

            after = await stored_secrets(database_url)
            assert after.current != before.current and after.previous == before.current
            assert abs(after.previous_until_s - until) < 1

            def secrets_of(node: Api) -> Any:
                return node.app[SNAPSHOTS].current.cookie_secrets

            async def both_nodes_have_it() -> bool:
                return all(
                    (s := secrets_of(node)) is not None
                    and (s.current, s.previous) == (after.current, before.current)
                    for node in (a, b)
                )

            await b.eventually(both_nodes_have_it, within_s=5)
            [entry] = (await b.call("GET", "/api/v1/audit?action=cookies.rotate")).body["entries"]
            assert entry["actor"] == "admin"

        await serve_api(second, on_node_b)

    run_api(first, body)


@pytest.mark.parametrize("role", ["editor", "reader", "prober"])
def test_only_admin_may_rotate(database_url: str, tmp_path: Path, role: str):
    async def body(api: Api) -> None:
        before = await stored_secrets(database_url)
        reply = await api.call("POST", ROTATE, token=role)
        assert reply.status == 403, reply
        assert (await stored_secrets(database_url)) == before  # nothing written
        assert (await api.call("POST", ROTATE, token=None)).status == 401

    run_api(settings_for(database_url, tmp_path), body)
