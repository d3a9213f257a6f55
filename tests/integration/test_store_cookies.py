"""The DNS cookie secret in the store, on SQLite and PostgreSQL: made once however many
nodes start at once, rotated with the previous one kept for an hour, and read by nodes
as a change like any other (so every node of a database serves the same secret)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from geodns.store.repository import Store


def test_the_secret_is_made_once_even_when_nodes_start_together(database_url: str) -> None:
    async def check() -> None:
        stores = [await Store.open(database_url) for _ in range(4)]
        try:
            made = await asyncio.gather(*(s.ensure_cookie_secret() for s in stores))
            assert sorted(made) == [False, False, False, True]
            seen = {await s.load_cookie_secrets() for s in stores}
            assert len(seen) == 1
            [secrets] = seen
            assert secrets is not None and len(secrets.current) == 16
            assert secrets.previous is None
            assert await stores[0].ensure_cookie_secret() is False  # a restart keeps it
            assert await stores[0].load_cookie_secrets() == secrets
        finally:
            for store in stores:
                await store.close()

    asyncio.run(check())


def test_a_rotation_keeps_the_previous_secret_for_an_hour_and_is_read_as_a_change(
    database_url: str,
) -> None:
    now = datetime(2026, 12, 2, 16, 0, tzinfo=UTC)

    async def check() -> None:
        store = await Store.open(database_url, clock=lambda: now)
        try:
            await store.ensure_cookie_secret()
            before = await store.load_cookie_secrets()
            assert before is not None
            generation = await store.generation()
            unchanged = await store.load_changes(generation)
            assert unchanged.cookie_secrets is None
            until = await store.rotate_cookie_secret(actor="test")
            assert until == now + timedelta(hours=1)
            after = await store.load_cookie_secrets()
            assert after is not None
            assert after.current != before.current and after.previous == before.current
            assert after.previous_until_s == (now + timedelta(hours=1)).timestamp()
            changes = await store.load_changes(generation)
            assert changes.generation == generation + 1 and changes.cookie_secrets == after
            assert (await store.load_changes(-1)).cookie_secrets == after  # complete: too
            [entry, *_] = await store.list_audit()
            assert (entry.action, entry.actor) == ("cookies.rotate", "test")
        finally:
            await store.close()

    asyncio.run(check())
