"""DNSSEC keys in the store on real SQLite and PostgreSQL: enabling, a whole rollover on a
clock the test moves, refusals, sealing at rest, audit rows and generations."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from geodns.dnssec.keys import Algorithm
from geodns.dnssec.rollover import Phase, Policy, RolloverRefused, zone_keys_at
from geodns.dnssec.sealing import new_secret
from geodns.errors import ConfigError, Conflict, NotFound
from geodns.store import tables
from geodns.store.repository import Store, open_engine
from geodns.zone_keys import check_secret_fits, make_key, open_keys

ZONE = "example.test."
SECRET = new_secret()
T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
POLICY = Policy(ZONE, Algorithm.ECDSAP256SHA256, 60, 10, 600)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def with_clock_store(database_url: str, body: Callable[[Store, Clock], Any]) -> Any:
    async def go() -> Any:
        clock = Clock()
        store = await Store.open(database_url, clock=clock)
        try:
            return await body(store, clock)
        finally:
            await store.close()

    return asyncio.run(go())


def test_enable_stores_one_signing_key_sealed(database_url: str) -> None:
    async def body(store: Store, clock: Clock) -> None:
        before = await store.generation()
        signing = await store.enable_signing(POLICY, make_key(SECRET, ZONE, POLICY.algorithm))
        assert await store.generation() == before + 1
        assert signing.policy == POLICY and signing.changed_generation == before + 1
        [key] = signing.keys
        assert key.times.phase_at(T0) is Phase.ACTIVE
        opened = open_keys(signing, SECRET)
        assert opened[key.times.key_id].public == key.times.public
        assert await store.list_signing() == [signing]
        assert await store.get_signing(ZONE) == signing
        [audit] = await store.list_audit(action="dnssec.enable")
        assert audit.target == "dnssec/example.test." and audit.after["key_tag"] == (
            key.times.public.tag
        )
        assert "sealed" not in str(audit.after)

    with_clock_store(database_url, body)


def test_the_database_holds_no_bare_private_key(database_url: str) -> None:
    async def body(store: Store, clock: Clock) -> bytes:
        signing = await store.enable_signing(POLICY, make_key(SECRET, ZONE, POLICY.algorithm))
        key = open_keys(signing, SECRET)[signing.keys[0].times.key_id]
        return key._private.private_numbers().private_value.to_bytes(32, "big")  # type: ignore[union-attr]

    scalar = with_clock_store(database_url, body)

    async def row() -> bytes:
        engine = open_engine(database_url)
        try:
            async with engine.connect() as conn:
                return bytes(
                    (
                        await conn.execute(select(tables.dnssec_keys.c.private_key_sealed))
                    ).scalar_one()
                )
        finally:
            await engine.dispose()

    stored = asyncio.run(row())
    assert stored.startswith(b"GDK1") and scalar not in stored


def test_enabling_twice_is_a_conflict_and_an_unsigned_zone_is_not_found(database_url: str) -> None:
    async def body(store: Store, clock: Clock) -> None:
        await store.enable_signing(POLICY, make_key(SECRET, ZONE, POLICY.algorithm))
        with pytest.raises(Conflict, match="signed already"):
            await store.enable_signing(POLICY, make_key(SECRET, ZONE, POLICY.algorithm))
        with pytest.raises(NotFound, match="other.test. is not signed"):
            await store.get_signing("other.test.")
        with pytest.raises(NotFound):
            await store.start_rollover(
                "other.test.", None, make_key(SECRET, ZONE, POLICY.algorithm)
            )

    with_clock_store(database_url, body)


def test_a_whole_rollover_with_every_step_stored(database_url: str) -> None:
    async def body(store: Store, clock: Clock) -> None:
        signing = await store.enable_signing(POLICY, make_key(SECRET, ZONE, POLICY.algorithm))
        old_tag = signing.keys[0].times.public.tag
        clock.now = T0 + timedelta(days=1)
        started = clock.now
        generation = await store.generation()
        signing = await store.start_rollover(ZONE, None, make_key(SECRET, ZONE, POLICY.algorithm))
        assert signing.changed_generation == generation + 1
        old, new = (k.times for k in signing.keys)
        assert (old.public.tag, old.retire_at) == (old_tag, started + timedelta(seconds=70))
        assert (new.publish_at, new.active_at) == (started, started + timedelta(seconds=70))
        with pytest.raises(RolloverRefused, match="in a rollover already"):
            await store.start_rollover(ZONE, None, make_key(SECRET, ZONE, POLICY.algorithm))
        with pytest.raises(RolloverRefused, match="must not move to it before then"):
            await store.confirm_ds_replaced(ZONE)

        clock.now = started + timedelta(seconds=70)
        opened = open_keys(signing, SECRET)
        keys = zone_keys_at(signing.times, opened, clock.now)
        assert keys is not None and [k.public.tag for k in keys.signing] == [new.public.tag]
        signing = await store.confirm_ds_replaced(ZONE)
        old = signing.keys[0].times
        assert old.remove_at == clock.now + timedelta(seconds=610)
        with pytest.raises(RolloverRefused, match="no key waiting"):
            await store.confirm_ds_replaced(ZONE)

        clock.now = old.remove_at
        keys = zone_keys_at(signing.times, opened, clock.now)
        assert keys is not None and [k.public.tag for k in keys.published] == [new.public.tag]
        actions = [a.action for a in await store.list_audit(target="dnssec/")]
        assert actions == ["dnssec.ds_replaced", "dnssec.rollover", "dnssec.enable"]
        # the next rollover may start: the removed key stays as history
        signing = await store.start_rollover(ZONE, None, make_key(SECRET, ZONE, POLICY.algorithm))
        assert [k.times.phase_at(clock.now) for k in signing.keys] == [
            Phase.REMOVED,
            Phase.ACTIVE,
            Phase.PUBLISHED,
        ]

    with_clock_store(database_url, body)


def test_an_algorithm_change_is_refused_by_the_store_too(database_url: str) -> None:
    async def body(store: Store, clock: Clock) -> None:
        await store.enable_signing(POLICY, make_key(SECRET, ZONE, POLICY.algorithm))
        with pytest.raises(RolloverRefused, match=r"RFC 6781 §4.1.4"):
            await store.start_rollover(
                ZONE, Algorithm.ED25519, make_key(SECRET, ZONE, Algorithm.ED25519)
            )

    with_clock_store(database_url, body)


def test_a_second_secret_for_one_database_is_refused(database_url: str) -> None:
    async def body(store: Store, clock: Clock) -> None:
        await store.enable_signing(POLICY, make_key(SECRET, ZONE, POLICY.algorithm))
        await check_secret_fits(store, SECRET)
        with pytest.raises(ConfigError, match="sealed with one dnssec_key_secret"):
            await check_secret_fits(store, new_secret())

    with_clock_store(database_url, body)
