"""StoreCore: the engine, the clock, transactions, the generation and audit rows.

Control plane: does I/O. The base of Store (geodns.store.repository); each concept's
methods (pools, health, tokens) build on these and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Self

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from geodns.errors import StoreUnavailable
from geodns.pools.model import Member, Pool, member_to_document, to_document
from geodns.store import tables as t
from geodns.store.audit import write_audit
from geodns.store.engine import StoreTimeouts, open_engine, transaction

LOCAL_ACTOR = "local"  # audit actor of changes made outside the API (the command line)


class StoreCore:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock
        self._postgres = engine.dialect.name == "postgresql"

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        clock: Callable[[], datetime] | None = None,
        timeouts: StoreTimeouts | None = None,
    ) -> Self:
        """Connect once to prove the database answers; StoreUnavailable if it does not."""
        store = cls(open_engine(url, timeouts), clock or (lambda: datetime.now(UTC)))
        try:
            await store.ping()
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        await self._engine.dispose()

    @property
    def backend(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self._engine.dialect.name

    async def ping(self) -> None:
        async with self._read() as conn:
            await conn.execute(select(1))

    async def generation(self) -> int:
        async with self._read() as conn:
            return await read_generation(conn)

    def _read(self) -> Any:
        return transaction(self._engine, write=False)

    def _write(self, what: str) -> Any:
        return transaction(self._engine, write=True, what=what)

    async def _audit(
        self, conn: AsyncConnection, actor: str, action: str, target: str, before: Any, after: Any
    ) -> None:
        """An audit row in the caller's transaction; Pool and Member become documents."""
        await write_audit(
            conn, self._clock(), actor, action, target, _document(before), _document(after)
        )

    async def _bump(self, conn: AsyncConnection) -> int:
        """Advance the generation inside the caller's transaction (and NOTIFY at commit)."""
        value: int = (
            await conn.execute(
                update(t.generation)
                .where(t.generation.c.id == t.GENERATION_ROW_ID)
                .values(value=t.generation.c.value + 1)
                .returning(t.generation.c.value)
            )
        ).scalar_one()
        if self._postgres:
            # delivered only if and when this transaction commits
            await conn.execute(select(func.pg_notify(t.NOTIFY_CHANNEL, str(value))))
        return value


async def read_generation(conn: AsyncConnection) -> int:
    value = (
        await conn.execute(
            select(t.generation.c.value).where(t.generation.c.id == t.GENERATION_ROW_ID)
        )
    ).scalar_one_or_none()
    if value is None:
        raise StoreUnavailable("generation row missing: run geodns db upgrade")
    return int(value)


async def lock_writers(conn: AsyncConnection) -> None:
    """Serialise writers on the generation row (PostgreSQL; SQLite's BEGIN IMMEDIATE does it)."""
    await conn.execute(
        select(t.generation.c.value)
        .where(t.generation.c.id == t.GENERATION_ROW_ID)
        .with_for_update()
    )


def _document(value: Any) -> Any:
    if isinstance(value, Pool):
        return to_document(value)
    if isinstance(value, Member):
        return member_to_document(value)
    return value
