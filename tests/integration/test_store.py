"""The store on real SQLite and PostgreSQL: CRUD, versions, atomicity, generation, health, watch."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from databases import WithStore
from sqlalchemy import func, select, text

from geodns.errors import ConfigError, Conflict, NotFound, StoreUnavailable
from geodns.pools.model import (
    AddressHealth,
    Check,
    CheckType,
    MatchKind,
    Member,
    Policy,
    Pool,
    Rule,
)
from geodns.store import tables
from geodns.store.migrate import ensure_schema, upgrade
from geodns.store.repository import StaleVersion, Store, open_engine

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def www(**changes: Any) -> Pool:
    pool = Pool(
        name="www.example.com.",
        members=(
            Member("192.0.2.11", 100, "us", 39.0, -77.5, 0, True, "https://us1.example.com"),
            Member("2001:db8::11", 50, "us", url="https://us1.example.com/v6"),
            Member("192.0.2.21", 100, "eu", 50.1, 8.7, 1, False, "http://192.0.2.21:8080/files"),
        ),
        rules=(
            Rule(MatchKind.CIDR, "10.0.0.0/8", ("us",)),
            Rule(MatchKind.COUNTRY, "CN", ("eu", "us")),
            Rule(MatchKind.CONTINENT, "EU", ("eu", "us")),
        ),
        ttl=30,
        policy=Policy.WEIGHTED,
        max_answers=2,
        min_healthy_fraction=0.25,
        fail_open=False,
        default_regions=("us", "eu"),
        check=Check(
            CheckType.HTTP,
            port=8080,
            path="/health",
            expect_status=(200, 299),
            body_contains="ok",
            interval_s=5.0,
            timeout_s=1.5,
        ),
    )
    return replace(pool, **changes)


def named(name: str) -> Pool:
    return Pool(name=name, members=(Member("192.0.2.1"),))


def test_created_pool_reads_back_equal_with_version_1(with_store: WithStore) -> None:
    async def check(store: Store) -> None:
        assert await store.create_pool(www()) == 1
        assert await store.get_pool("WWW.example.com") == (www(), 1)
        assert await store.list_pools() == [www()]
        tcp = named("tcp.example.com.")
        tcp = replace(tcp, check=Check(CheckType.TCP, port=443), default_regions=None)
        await store.create_pool(tcp)
        assert (await store.get_pool(tcp.name))[0] == tcp

    with_store(check)


def test_create_with_a_taken_name_is_a_conflict(with_store: WithStore) -> None:
    async def check(store: Store) -> None:
        await store.create_pool(www())
        with pytest.raises(Conflict, match="already exists"):
            await store.create_pool(www(ttl=60))
        assert await store.get_pool(www().name) == (www(), 1)

    with_store(check)


def test_replace_honours_if_version(with_store: WithStore) -> None:
    async def check(store: Store) -> None:
        await store.create_pool(www())
        assert await store.replace_pool(www(ttl=60), if_version=1) == 2
        with pytest.raises(StaleVersion, match="at version 2, not 1") as stale:
            await store.replace_pool(www(ttl=90), if_version=1)
        assert isinstance(stale.value, Conflict) and stale.value.current_version == 2
        assert await store.get_pool(www().name) == (www(ttl=60), 2)
        assert await store.replace_pool(www(ttl=90)) == 3  # no If-Match: last write wins
        with pytest.raises(StaleVersion):
            await store.delete_pool(www().name, if_version=2)
        with pytest.raises(StaleVersion):
            await store.upsert_member(www().name, Member("192.0.2.99"), if_version=1)

    with_store(check)


def test_missing_pools_and_members_are_not_found(with_store: WithStore) -> None:
    async def check(store: Store) -> None:
        for attempt in (
            store.get_pool("absent.example.com"),
            store.replace_pool(named("absent.example.com.")),
            store.delete_pool("absent.example.com."),
            store.upsert_member("absent.example.com.", Member("192.0.2.1")),
            store.delete_member("absent.example.com.", "192.0.2.1"),
        ):
            with pytest.raises(NotFound, match="no pool absent.example.com."):
                await attempt
        await store.create_pool(www())
        with pytest.raises(NotFound, match="has no member 192.0.2.99"):
            await store.delete_member(www().name, "192.0.2.99")

    with_store(check)


def test_a_write_failing_half_way_leaves_nothing(with_store: WithStore) -> None:
    twice = (Member("192.0.2.1", region="us"), Member("192.0.2.1", region="us"))

    async def check(store: Store) -> None:
        with pytest.raises(Conflict):
            await store.create_pool(replace(named("new.example.com."), members=twice))
        assert await store.list_pools() == []
        assert await store.generation() == 0
        await store.create_pool(www())
        with pytest.raises(Conflict):  # pool row updated, old members deleted, then this
            await store.replace_pool(www(ttl=60, members=twice, rules=(), default_regions=None))
        assert await store.get_pool(www().name) == (www(), 1)
        assert await store.generation() == 1

    with_store(check)


def test_members_are_replaced_in_place_appended_and_removed(with_store: WithStore) -> None:
    async def check(store: Store) -> None:
        await store.create_pool(www())
        drained = Member("192.0.2.11", 0, "us", 39.0, -77.5, 0, True, "https://us1.example.com/d")
        assert await store.upsert_member(www().name, drained, if_version=1) == 2
        added = Member("192.0.2.12", 100, "us")
        assert await store.upsert_member(www().name, added) == 3
        assert await store.delete_member(www().name, "2001:db8::11", if_version=3) == 4
        pool, version = await store.get_pool(www().name)
        assert version == 4
        assert pool.members == (drained, www().members[2], added)

    with_store(check)


def test_delete_pool_removes_its_members_and_rules(
    with_store: WithStore, database_url: str
) -> None:
    async def check(store: Store) -> None:
        await store.create_pool(www())
        await store.create_pool(named("other.example.com."))
        await store.delete_pool(www().name, if_version=1)
        assert [p.name for p in await store.list_pools()] == ["other.example.com."]
        engine = open_engine(database_url)
        try:
            async with engine.connect() as conn:
                members = await conn.scalar(select(func.count()).select_from(tables.members))
                rules = await conn.scalar(select(func.count()).select_from(tables.rules))
        finally:
            await engine.dispose()
        assert (members, rules) == (1, 0)

    with_store(check)


def test_list_pools_filters_by_zone_and_pages_by_name(with_store: WithStore) -> None:
    names = [
        "b.example.com.",
        "example.com.",
        "a.example.com.",
        "x.example.net.",
        "notexample.com.",
        "a_b.example.com.",
    ]

    async def check(store: Store) -> None:
        for name in names:
            await store.create_pool(named(name))

        async def listed(**kwargs: Any) -> list[str]:
            return [pool.name for pool in await store.list_pools(**kwargs)]

        in_zone = ["a.example.com.", "a_b.example.com.", "b.example.com.", "example.com."]
        assert await listed(zone="Example.COM") == in_zone
        assert await listed(zone="example.com.", limit=2) == in_zone[:2]
        assert await listed(zone="example.com.", limit=2, after="a_b.example.com.") == in_zone[2:]
        assert await listed(after="notexample.com.") == ["x.example.net."]
        assert await listed(zone="_b.example.com.") == []  # "_" is not a LIKE wildcard here

    with_store(check)


def test_generation_moves_with_every_change_and_never_with_reads(with_store: WithStore) -> None:
    async def check(store: Store) -> None:
        steps: list[Callable[[], Awaitable[Any]]] = [
            lambda: store.create_pool(www()),
            lambda: store.replace_pool(www(ttl=60)),
            lambda: store.upsert_member(www().name, Member("192.0.2.12", region="us")),
            lambda: store.delete_member(www().name, "192.0.2.12"),
            lambda: store.set_address_health("192.0.2.11", True, "http 503", {"p1": True}, T0),
            lambda: store.delete_pool(www().name),
        ]
        reads: list[Callable[[], Awaitable[Any]]] = [
            store.list_pools,
            store.load_state,
            store.list_reports,
            store.list_address_health,
            lambda: store.list_transitions("192.0.2.11"),
            lambda: store.save_report("p1", "192.0.2.11", True, "http 503", 60, T0),
        ]
        assert await store.generation() == 0
        for expected, step in enumerate(steps, start=1):
            await step()
            assert await store.generation() == expected
            for read in reads:
                await read()
            assert await store.generation() == expected

    with_store(check)


def test_load_state_is_one_consistent_read(with_store: WithStore, database_url: str) -> None:
    """A writer sets ttl = generation on every change; a reader must never see them disagree."""

    async def check(store: Store) -> None:
        await store.create_pool(www(ttl=1))
        await store.set_address_health("192.0.2.21", True, "timeout", {"p1": True}, T0)
        state = await store.load_state()
        assert state.generation == 2 and state.pools == (www(ttl=1),)
        assert state.health == {"192.0.2.21": AddressHealth(down=True, reason="timeout")}
        writer_store = await Store.open(database_url)

        async def writer() -> None:
            for generation in range(3, 40):
                await writer_store.replace_pool(www(ttl=generation))

        async def reader() -> int:
            seen = 0
            while not writing.done():
                state = await store.load_state()
                assert state.pools[0].ttl == (1 if state.generation <= 2 else state.generation)
                seen += 1
            return seen

        try:
            writing = asyncio.create_task(writer())
            assert await reader() > 0
            await writing
        finally:
            await writer_store.close()

    with_store(check)


def test_health_state_records_transitions_only_on_up_down_changes(with_store: WithStore) -> None:
    address = "192.0.2.11"

    async def check(store: Store) -> None:
        assert await store.set_address_health(address, False, "", {"p1": False}, T0) is False
        assert await store.generation() == 1  # first state: shown, but not a transition
        t1, t2, t3 = (T0 + timedelta(seconds=s) for s in (10, 20, 30))
        assert await store.set_address_health(address, True, "http 503", {"p1": True}, t1)
        assert await store.set_address_health(address, True, "timeout", {"p1": True}, t2) is False
        assert await store.generation() == 3  # the reason changed what is shown
        votes = {"p1": True, "p2": True}
        assert await store.set_address_health(address, True, "timeout", votes, t2) is False
        assert await store.generation() == 3  # votes alone change nothing shown
        [failed] = await store.list_address_health(down=True)
        assert (failed.address, failed.reason, failed.since, failed.probes) == (
            address,
            "timeout",
            t1,
            votes,
        )
        assert await store.set_address_health(address, False, "http 200", {"p1": False}, t3)
        assert await store.list_address_health(down=True) == []
        transitions = await store.list_transitions(address)
        assert [(t.at, t.down, t.reason, t.votes) for t in transitions] == [
            (t3, False, "http 200", {"p1": False}),
            (t1, True, "http 503", {"p1": True}),
        ]
        assert all(t.at.tzinfo is UTC for t in transitions)
        assert len(await store.list_transitions(address, limit=1)) == 1
        state = await store.load_state()
        assert state.health == {address: AddressHealth(down=False, reason="http 200")}

    with_store(check)


def test_reports_keep_the_latest_per_probe_and_address(with_store: WithStore) -> None:
    async def check(store: Store) -> None:
        await store.save_report("p1", "192.0.2.11", True, "http 503", 60, T0)
        await store.save_report("p2", "192.0.2.11", False, "http 200", 30.5, T0)
        later = T0 + timedelta(seconds=5)
        await store.save_report("p1", "192.0.2.11", False, "http 200", 60, later)
        await store.save_report("p1", "192.0.2.12", True, "refused", 60, later)
        reports = await store.list_reports("192.0.2.11")
        assert [(r.probe, r.down, r.reason, r.reported_at, r.ttl_s) for r in reports] == [
            ("p1", False, "http 200", later, 60.0),
            ("p2", False, "http 200", T0, 30.5),
        ]
        assert len(await store.list_reports()) == 3
        with pytest.raises(ValueError, match="naive datetime"):
            await store.save_report("p1", "192.0.2.11", True, "x", 60, datetime(2026, 1, 1))

    with_store(check)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"postgresql+asyncpg://geodns@127.0.0.1:{_closed_port()}/geodns", id="pg"),
        pytest.param("sqlite+aiosqlite:///{tmp}/no/such/dir/geodns.db", id="sqlite"),
    ],
)
def test_an_unreachable_database_is_store_unavailable(url: str, tmp_path: Path) -> None:
    url = url.format(tmp=tmp_path)
    with pytest.raises(StoreUnavailable):
        asyncio.run(Store.open(url))
    with pytest.raises(StoreUnavailable):
        asyncio.run(upgrade(url))
    with pytest.raises(StoreUnavailable):
        asyncio.run(ensure_schema(url))


@pytest.mark.parametrize("url", ["mysql://root@localhost/geodns", "not a url"])
def test_an_unsupported_database_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError):
        asyncio.run(Store.open(url))


def test_plain_driver_names_get_async_drivers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'plain.db'}"
    asyncio.run(upgrade(url))

    async def check() -> None:
        store = await Store.open(url)
        try:
            assert store.backend == "sqlite" and await store.generation() == 0
        finally:
            await store.close()

    asyncio.run(check())


def test_schema_tables_use_utc_aware_datetimes(with_store: WithStore, database_url: str) -> None:
    async def check(store: Store) -> None:
        await store.create_pool(www())
        engine = open_engine(database_url)
        try:
            async with engine.connect() as conn:
                row = (await conn.execute(select(tables.pools.c.created_at))).one()
                raw = await conn.scalar(text("SELECT count(*) FROM generation"))
        finally:
            await engine.dispose()
        assert row.created_at.tzinfo is UTC and raw == 1

    with_store(check)
