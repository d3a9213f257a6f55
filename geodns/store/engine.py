"""Database URLs, engines and transactions: how geodns talks to SQLite and PostgreSQL.

Control plane: does I/O. Driver errors leave a transaction as Conflict (a constraint)
or StoreUnavailable, so no caller outside geodns.store sees a SQLAlchemy type.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from geodns.errors import ConfigError, Conflict, StoreUnavailable

DEFAULT_URL = "sqlite+aiosqlite:///./geodns.db"
_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
_WRITE = "geodns_write"  # execution option: SQLite takes the write lock at BEGIN


def database_url(url: str) -> URL:
    """Parse url, giving plain sqlite:// and postgresql:// their async drivers; ConfigError."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"not a database URL: {url!r} (example: {DEFAULT_URL})") from exc
    backend = parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise ConfigError(
            f"unsupported database {backend!r}: use sqlite+aiosqlite:///PATH "
            "or postgresql+asyncpg://USER@HOST/DB"
        )
    if parsed.drivername == backend:
        parsed = parsed.set(drivername=_ASYNC_DRIVERS[backend])
    return parsed


def safe_url(url: str | URL) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def open_engine(url: str) -> AsyncEngine:
    """An async engine with geodns's connection settings (no connection is made yet)."""
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        # aiosqlite leaves a thread behind when its connect fails: say it plainly instead
        directory = Path(parsed.database).parent
        if not directory.is_dir():
            raise StoreUnavailable(f"database {safe_url(parsed)}: no directory {directory}")
    try:
        engine = create_async_engine(parsed, pool_pre_ping=parsed.get_backend_name() != "sqlite")
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(f"cannot use database {safe_url(parsed)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    # pysqlite starts transactions lazily and never for SELECT; take control so a read
    # transaction is one snapshot and a write takes the lock up front (no upgrade deadlock).
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")  # members and rules cascade with their pool
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@asynccontextmanager
async def transaction(
    engine: AsyncEngine, *, write: bool, what: str = "database"
) -> AsyncIterator[AsyncConnection]:
    """One transaction: committed when the block ends, rolled back on any error.

    Reads on PostgreSQL run REPEATABLE READ so every statement sees one snapshot.
    Driver errors leave as Conflict (a constraint) or StoreUnavailable.
    """
    try:
        async with engine.connect() as conn:
            if write:
                await conn.execution_options(**{_WRITE: True})
            elif engine.dialect.name == "postgresql":
                await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                yield conn
    except IntegrityError as exc:
        raise Conflict(f"{what}: conflicts with stored data: {exc.orig}") from exc
    except (SQLAlchemyError, OSError) as exc:
        detail = getattr(exc, "orig", None) or exc
        raise StoreUnavailable(f"{what}: {type(detail).__name__}: {detail}") from exc
