"""Every store call is bounded (issue 12 §5): a database that stops answering is a
StoreTimedOut within the store's timeouts, never a stalled caller, and the same Store
works again once the database is back. /readyz's probe asks one question at a time.

PostgreSQL's hang and outage are made by a proxy of the test's own (the database_proxy
fixture, tests/dbproxy.py),
never on the shared server; SQLite's hang is its write lock held by another connection.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
from databases import BACKENDS
from dbproxy import DatabaseProxy  # the database_proxy fixture's type
from polling import until_async
from sqlalchemy.engine import make_url

from geodns.errors import StoreTimedOut, StoreUnavailable
from geodns.pools.model import Member, Pool
from geodns.store.reachability import ReachabilityProbe
from geodns.store.repository import Store, StoreTimeouts

POSTGRES = [p for p in BACKENDS if p.id == "postgresql"]
SHORT = StoreTimeouts(connect_s=0.5, statement_s=0.8)
# generous: a bound far below "hung" that a loaded machine still keeps
WITHIN_S = 6.0


def pool(name: str = "www.example.test.") -> Pool:
    return Pool(name=name, members=(Member(address="192.0.2.1"),))


@pytest.mark.parametrize("backend", POSTGRES)
def test_a_hung_postgresql_is_a_timeout_for_reads_and_writes_then_works_again(
    database_url: str,
    database_proxy: DatabaseProxy,
) -> None:

    async def body() -> None:
        store = await Store.open(database_proxy.url(database_url), timeouts=SHORT)
        try:
            assert await store.generation() == 0
            database_proxy.hang()
            for call in (store.generation, lambda: store.create_pool(pool())):
                started = time.monotonic()
                with pytest.raises(StoreTimedOut):
                    await call()
                assert time.monotonic() - started < WITHIN_S
            database_proxy.up()
            await store.create_pool(pool())
            assert await store.generation() == 1
        finally:
            await store.close()

    asyncio.run(body())


@pytest.mark.parametrize("backend", POSTGRES)
def test_a_stopped_postgresql_is_unavailable_at_once_and_the_pool_reconnects(
    database_url: str,
    database_proxy: DatabaseProxy,
) -> None:

    async def body() -> None:
        store = await Store.open(database_proxy.url(database_url), timeouts=SHORT)
        try:
            await store.generation()
            database_proxy.down()
            with pytest.raises(StoreUnavailable) as raised:
                await store.generation()
            assert not isinstance(raised.value, StoreTimedOut)
            database_proxy.up()
            assert await store.generation() == 0  # the dead pooled connection was replaced
        finally:
            await store.close()

    asyncio.run(body())


@pytest.mark.parametrize("backend", [p for p in BACKENDS if p.id == "sqlite"])
def test_a_held_sqlite_write_lock_fails_a_write_after_the_statement_timeout(
    database_url: str,
) -> None:
    path = Path(make_url(database_url).database or "")
    locker = sqlite3.connect(path, isolation_level=None)

    async def body() -> None:
        store = await Store.open(database_url, timeouts=SHORT)
        try:
            locker.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match="database is locked"):
                await store.create_pool(pool())
            assert time.monotonic() - started < WITHIN_S
            assert await store.generation() == 0  # WAL: readers never wait for a writer
            locker.execute("ROLLBACK")
            await store.create_pool(pool())
            assert await store.generation() == 1
        finally:
            await store.close()

    try:
        asyncio.run(body())
    finally:
        locker.close()


@pytest.mark.parametrize("backend", POSTGRES)
def test_the_readiness_probe_says_timed_out_and_never_piles_up_connections(
    database_url: str,
    database_proxy: DatabaseProxy,
) -> None:

    async def body() -> None:
        store = await Store.open(database_proxy.url(database_url), timeouts=StoreTimeouts(5.0, 5.0))
        probe = ReachabilityProbe(store.generation, timeout_s=0.2)
        try:
            assert (await probe.check()).reachable
            opened = database_proxy.connections()
            database_proxy.hang()
            results = [await probe.check() for _ in range(10)]  # an orchestrator polling
            for result in results:
                assert not result.reachable
                assert result.reason == "database timed out: no answer within 0.2 s"
            # one question was in flight the whole time: at most one connection more
            assert database_proxy.connections() <= opened + 1
            database_proxy.up()
            checks = []

            async def reachable() -> bool:
                checks.append(await probe.check())
                return checks[-1].reachable

            try:
                await until_async(reachable, timeout_s=WITHIN_S)
            except AssertionError as exc:
                raise AssertionError(checks[-1]) from exc  # the reason it still gives
            assert checks[-1].reason is None
        finally:
            await probe.close()
            await store.close()

    asyncio.run(body())


@pytest.mark.parametrize("backend", POSTGRES)
def test_the_readiness_probe_names_an_unreachable_database(
    database_url: str, database_proxy: DatabaseProxy
) -> None:

    async def body() -> None:
        store = await Store.open(database_proxy.url(database_url), timeouts=SHORT)
        probe = ReachabilityProbe(store.generation, timeout_s=2.0)
        try:
            database_proxy.down()
            result = await probe.check()
            assert not result.reachable
            assert result.reason is not None
            assert result.reason.startswith("database unreachable: database: Connection")
        finally:
            await probe.close()
            await store.close()

    asyncio.run(body())
