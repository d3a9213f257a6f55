"""Database URLs, engines and transactions: how geodns talks to SQLite and PostgreSQL.

Control plane: does I/O. Driver errors leave a transaction as Conflict (a constraint)
or StoreUnavailable, so no caller outside geodns.store sees a SQLAlchemy type.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from geodns.errors import ConfigError, Conflict, StoreTimedOut, StoreUnavailable

DEFAULT_URL = "sqlite+aiosqlite:///./geodns.db"
_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
_WRITE = "geodns_write"  # execution option: SQLite takes the write lock at BEGIN


@dataclass(frozen=True, slots=True)
class StoreTimeouts:
    """How long any store call may wait on the database, so a hung one cannot stall the
    API or the watch (issue 12 §5): connect_s bounds a new connection (and the wait for
    a pooled one), statement_s each statement (None: no bound, for migrations)."""

    connect_s: float = 3.0
    statement_s: float | None = 5.0


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


def open_engine(url: str, timeouts: StoreTimeouts | None = None) -> AsyncEngine:
    """An async engine with geodns's connection settings (no connection is made yet)."""
    timeouts = timeouts or StoreTimeouts()
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        # aiosqlite leaves a thread behind when its connect fails: say it plainly instead
        directory = Path(parsed.database).parent
        if not directory.is_dir():
            raise StoreUnavailable(f"database {safe_url(parsed)}: no directory {directory}")
    postgres = parsed.get_backend_name() == "postgresql"
    try:
        engine = create_async_engine(
            parsed,
            pool_pre_ping=postgres,
            pool_timeout=timeouts.connect_s,  # every pooled connection busy (or hung)
            connect_args=_postgres_timeouts(timeouts) if postgres else {},
        )
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(f"cannot use database {safe_url(parsed)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, timeouts)
    return engine


def _postgres_timeouts(timeouts: StoreTimeouts) -> dict[str, Any]:
    """asyncpg's bounds: timeout covers connecting and the start-up exchange; command_timeout
    is kept by the client, so it holds when the server or the network stops answering;
    the server's own statement_timeout stops the work there too."""
    args: dict[str, Any] = {"timeout": timeouts.connect_s}
    if timeouts.statement_s is not None:
        args["command_timeout"] = timeouts.statement_s
        args["server_settings"] = {"statement_timeout": str(int(timeouts.statement_s * 1000))}
    return args


def _configure_sqlite(engine: AsyncEngine, timeouts: StoreTimeouts) -> None:
    # a lock held by another connection is SQLite's hang: wait for it a statement's time
    # (a migration, unbounded elsewhere, still waits only the default time for a lock)
    busy_ms = int((timeouts.statement_s or StoreTimeouts().statement_s or 5.0) * 1000)

    # pysqlite starts transactions lazily and never for SELECT; take control so a read
    # transaction is one snapshot and a write takes the lock up front (no upgrade deadlock).
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")  # members and rules cascade with their pool
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
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
    Driver errors leave as Conflict (a constraint) or StoreUnavailable (StoreTimedOut when
    the database did not answer within the engine's StoreTimeouts).
    """
    try:
        async with engine.connect() as conn:
            try:
                if write:
                    await conn.execution_options(**{_WRITE: True})
                elif engine.dialect.name == "postgresql":
                    await conn.execution_options(isolation_level="REPEATABLE READ")
                async with conn.begin():
                    yield conn
            except IntegrityError:
                raise
            except (SQLAlchemyError, OSError):
                # a connection that failed may be broken in ways the pool cannot see (a
                # SQLite file that was unreadable, a timed-out statement): never reuse it
                await conn.invalidate()
                raise
    except IntegrityError as exc:
        raise Conflict(f"{what}: conflicts with stored data: {exc.orig}") from exc
    except (SQLAlchemyError, OSError) as exc:
        detail = getattr(exc, "orig", None) or exc
        if isinstance(detail, TimeoutError | PoolTimeout):
            raise StoreTimedOut(f"{what}: no answer from the database in time") from exc
        raise StoreUnavailable(f"{what}: {type(detail).__name__}: {detail}") from exc
