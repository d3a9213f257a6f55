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
import os
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url

from geodns.store.migrate import upgrade
from geodns.store.repository import Store

T = TypeVar("T")

POSTGRES_URL = os.environ.get("GEODNS_TEST_POSTGRES_URL")

BACKENDS = [pytest.param("sqlite", id="sqlite")]
if POSTGRES_URL:
    BACKENDS.append(pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres))


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion in a fresh event loop."""
    return asyncio.run(coroutine)


def _admin_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _create_database(name: str) -> None:
    assert POSTGRES_URL is not None
    connection = await asyncpg.connect(_admin_dsn(POSTGRES_URL))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _drop_database(name: str) -> None:
    assert POSTGRES_URL is not None
    connection = await asyncpg.connect(_admin_dsn(POSTGRES_URL))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database of the parametrized backend, removed after the test."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'geodns.db'}"
        return
    assert POSTGRES_URL is not None
    name = f"geodns_test_{uuid.uuid4().hex[:16]}"
    run(_create_database(name))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        run(_drop_database(name))


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """A database migrated to head by alembic (geodns.store.migrate.upgrade)."""
    run(upgrade(empty_database_url))
    return empty_database_url


@pytest.fixture
def with_store(database_url: str) -> Callable[[Callable[[Store], Awaitable[T]]], T]:
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
