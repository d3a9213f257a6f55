"""Real databases for tests: SQLite always, PostgreSQL when GEODNS_TEST_POSTGRES_URL is set.

Each PostgreSQL test gets a database of its own (CREATE DATABASE, dropped afterwards) on
the shared server, so tests never see each other's rows or notifications. Import the
fixtures into a conftest.py to use them.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from geodns.store.migrate import upgrade
from geodns.store.repository import Store

POSTGRES_URL = os.environ.get("GEODNS_TEST_POSTGRES_URL")

# what the with_store fixture (tests/integration/conftest.py) is: with_store(check) opens a
# Store on the test database, awaits check(store) and closes it
WithStore = Callable[[Callable[[Store], Awaitable[Any]]], Any]
BACKENDS = [pytest.param("sqlite", id="sqlite")]
if POSTGRES_URL:
    BACKENDS.append(pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres))


def admin_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def run_admin(statement: str) -> None:
    assert POSTGRES_URL is not None
    connection = await asyncpg.connect(admin_dsn(POSTGRES_URL))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the parametrized backend, removed after the test."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'geodns.db'}"
        return
    assert POSTGRES_URL is not None
    name = f"geodns_test_{uuid.uuid4().hex[:16]}"
    asyncio.run(run_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """The database migrated to head by alembic, as `geodns db upgrade` does."""
    asyncio.run(upgrade(empty_database_url))
    return empty_database_url
