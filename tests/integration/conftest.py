"""Store fixtures: a real database per test, SQLite always, PostgreSQL when configured.

`database_url` is migrated to head with alembic (so every run tests the migrations);
`empty_database_url` is the same database untouched. On PostgreSQL each test gets its
own freshly created database (CREATE DATABASE geodns_test_...), dropped afterwards, so
tests never see each other's rows or notifications on the shared server.

pytest-asyncio is not used: tests are plain functions that run coroutines with `run`
(one event loop per call), and `with_store` opens a Store inside that loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from databases import (  # noqa: F401 (fixtures, and what store tests import from here)
    BACKENDS,
    POSTGRES_URL,
    backend,
    database_url,
    empty_database_url,
)
from dbproxy import DatabaseProxy

from geodns.store.repository import Store

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion in a fresh event loop."""
    return asyncio.run(coroutine)


@pytest.fixture
def with_store(database_url: str) -> Callable[[Callable[[Store], Awaitable[T]]], T]:  # noqa: F811
    """with_store(check): open a Store on the test database, await check(store), close it."""

    def use(check: Callable[[Store], Awaitable[T]]) -> T:
        async def body() -> T:
            store = await Store.open(database_url)
            try:
                return await check(store)
            finally:
                await store.close()

        return run(body())

    return use


@pytest.fixture
def database_proxy(database_url: str) -> Iterator[DatabaseProxy]:  # noqa: F811
    """A proxy in front of the test's PostgreSQL, to stop or hang it for this test only
    (tests/dbproxy.py); closed, with every connection through it, afterwards."""
    proxy = DatabaseProxy.for_url(database_url)
    try:
        yield proxy
    finally:
        proxy.close()
