"""Store: pools, health, tokens and the audit log in SQLite or PostgreSQL, one transaction per call.

Control plane: async, does I/O. Callers see geodns values and geodns.errors only:
every driver error becomes StoreUnavailable (or Conflict for a constraint), never a
SQLAlchemy type. Every write that changes what a snapshot shows bumps the generation
in the same transaction (and stamps what it changed with it, so that nodes read only
the changes: geodns.store.changes) and, on PostgreSQL, NOTIFYs geodns_changes with it;
every change writes its audit row in that same transaction too. Health calls live in
geodns.store.health_rows, token calls in geodns.store.tokens, DNSSEC key calls in
geodns.store.dnssec_keys; Store is all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from geodns.errors import Conflict, NotFound, StaleVersion
from geodns.pools.model import AddressHealth, Member, Pool
from geodns.store import tables as t
from geodns.store.audit import AuditEntry, read_audit, write_audit
from geodns.store.changes import (
    Changes,
    clear_tombstone,
    read_deleted,
    read_generations,
    read_health,
    write_tombstone,
)
from geodns.store.cookie_secret import CookieSecretMethods, read_cookie_secrets
from geodns.store.core import LOCAL_ACTOR, lock_writers, read_generation
from geodns.store.dnssec_keys import (
    NewKey,
    SigningMethods,
    StoredKey,
    ZoneSigning,
    read_signing,
)
from geodns.store.engine import (
    DEFAULT_URL,
    StoreTimeouts,
    database_url,
    open_engine,
    safe_url,
    transaction,
)
from geodns.store.health_rows import (
    AddressState,
    FlapMemory,
    HealthChange,
    HealthMethods,
    HealthPolicy,
    Redecided,
    Report,
    Transition,
)
from geodns.store.nodes import Node, NodeBeat, NodeMethods
from geodns.store.pool_rows import (
    existing,
    fqdn,
    insert_children,
    load_pool,
    load_pools,
    member_values,
    pool_row,
    pool_values,
)
from geodns.store.tokens import Token, TokenMethods

__all__ = [  # what callers import from here (the engine helpers for older call sites)
    "DEFAULT_URL",
    "LOCAL_ACTOR",
    "AddressState",
    "AuditEntry",
    "Changes",
    "FlapMemory",
    "HealthPolicy",
    "HealthChange",
    "NewKey",
    "Node",
    "NodeBeat",
    "Redecided",
    "Report",
    "StaleVersion",
    "Store",
    "StoreState",
    "StoredKey",
    "StoreTimeouts",
    "Token",
    "Transition",
    "database_url",
    "open_engine",
    "safe_url",
    "transaction",
    "ZoneSigning",
]


@dataclass(frozen=True, slots=True)
class StoreState:
    """Everything a snapshot needs, read in one transaction so the parts agree."""

    generation: int
    pools: tuple[Pool, ...]
    health: dict[str, AddressHealth]


class Store(HealthMethods, TokenMethods, SigningMethods, NodeMethods, CookieSecretMethods):
    """Pools, members, rules, health, tokens, DNSSEC keys, node heartbeats, the DNS cookie
    secret, audit; `await Store.open(url)`."""

    # -- reads ------------------------------------------------------------------------

    async def list_pools(
        self, zone: str | None = None, limit: int | None = None, after: str | None = None
    ) -> list[Pool]:
        """Pools in name order, optionally those at or below zone, after a name (exclusive)."""
        where: list[ColumnElement[bool]] = []
        if zone is not None:
            origin = fqdn(zone)
            where.append(
                (t.pools.c.name == origin) | t.pools.c.name.endswith("." + origin, autoescape=True)
            )
        if after is not None:
            where.append(t.pools.c.name > fqdn(after))
        async with self._read() as conn:
            return [pool for pool, _ in await load_pools(conn, where, limit)]

    async def get_pool(self, name: str) -> tuple[Pool, int]:
        """The pool and its version; NotFound."""
        async with self._read() as conn:
            found = await load_pools(conn, [t.pools.c.name == fqdn(name)], None)
        if not found:
            raise NotFound(f"no pool {fqdn(name)}")
        return found[0]

    async def load_state(self) -> StoreState:
        async with self._read() as conn:
            gen = await read_generation(conn)
            loaded = await load_pools(conn, [], None)
            health = await read_health(conn, None)
        return StoreState(gen, tuple(pool for pool, _ in loaded), health)

    async def load_changes(self, since: int) -> Changes:
        """What changed after generation since, in one read transaction.

        Changes.complete (everything, as load_state reads it) when since is older than the
        tombstone horizon, or newer than the store (a database put back from a backup); a
        negative since asks for everything.
        """
        async with self._read() as conn:
            generation, horizon = await read_generations(conn)
            if since < horizon or since < 0 or since > generation:
                loaded = await load_pools(conn, [], None)
                pools = tuple(pool for pool, _ in loaded)
                health = await read_health(conn, None)
                signing = await read_signing(conn)
                cookies = await read_cookie_secrets(conn)
                return Changes(generation, True, pools, (), health, signing, cookies)
            if since == generation:
                return Changes(generation, False)
            signing = await read_signing(conn, since)
            loaded = await load_pools(
                conn,
                [t.pools.c.changed_generation > since],
                None,
                ordered_by=t.pools.c.changed_generation,
            )
            return Changes(
                generation,
                False,
                tuple(pool for pool, _ in loaded),
                await read_deleted(conn, since),
                await read_health(conn, since),
                signing or None,
                await read_cookie_secrets(conn, since),
            )

    # -- pool writes ------------------------------------------------------------------

    async def create_pool(self, pool: Pool, *, actor: str = LOCAL_ACTOR) -> int:
        """Insert a new pool; Conflict if the name is taken. Returns its version (1)."""
        async with self._write(f"pool {pool.name}") as conn:
            await lock_writers(conn)
            if await pool_row(conn, pool.name) is not None:
                raise Conflict(f"pool {pool.name} already exists")
            now = self._clock()
            generation = await self._bump(conn)
            pool_id = (
                await conn.execute(
                    insert(t.pools)
                    .values(
                        **pool_values(pool),
                        version=1,
                        created_at=now,
                        updated_at=now,
                        changed_generation=generation,
                    )
                    .returning(t.pools.c.id)
                )
            ).scalar_one()
            await insert_children(conn, pool_id, pool)
            await clear_tombstone(conn, pool.name)
            await self._audit(conn, actor, "pool.create", _target(pool.name), None, pool)
            return 1

    async def replace_pool(
        self, pool: Pool, if_version: int | None = None, *, actor: str = LOCAL_ACTOR
    ) -> int:
        """Replace every field, member and rule; NotFound, StaleVersion. Returns the version."""
        async with self._write(f"pool {pool.name}") as conn:
            await lock_writers(conn)
            pool_id, version = await existing(conn, pool.name, if_version)
            before = await load_pool(conn, pool.name)
            generation = await self._bump(conn)
            await conn.execute(
                update(t.pools)
                .where(t.pools.c.id == pool_id)
                .values(
                    **pool_values(pool),
                    version=version + 1,
                    updated_at=self._clock(),
                    changed_generation=generation,
                )
            )
            await conn.execute(delete(t.members).where(t.members.c.pool_id == pool_id))
            await conn.execute(delete(t.rules).where(t.rules.c.pool_id == pool_id))
            await insert_children(conn, pool_id, pool)
            await self._audit(conn, actor, "pool.replace", _target(pool.name), before, pool)
            return version + 1

    async def delete_pool(
        self, name: str, if_version: int | None = None, *, actor: str = LOCAL_ACTOR
    ) -> None:
        """Delete the pool with its members and rules; NotFound, StaleVersion."""
        name = fqdn(name)
        async with self._write(f"pool {name}") as conn:
            await lock_writers(conn)
            pool_id, _ = await existing(conn, name, if_version)
            before = await load_pool(conn, name)
            generation = await self._bump(conn)
            await conn.execute(delete(t.pools).where(t.pools.c.id == pool_id))
            await write_tombstone(conn, name, generation, self._clock())
            await self._audit(conn, actor, "pool.delete", _target(name), before, None)

    async def upsert_member(
        self,
        pool_name: str,
        member: Member,
        if_version: int | None = None,
        *,
        actor: str = LOCAL_ACTOR,
    ) -> int:
        """Replace the member with member.address, or append it; returns the pool's version."""
        name = fqdn(pool_name)
        async with self._write(f"pool {name} member {member.address}") as conn:
            await lock_writers(conn)
            pool_id, version = await existing(conn, name, if_version)
            before = await _member(conn, pool_id, member.address)
            values = member_values(member)
            if before is not None:
                await conn.execute(
                    update(t.members)
                    .where(t.members.c.pool_id == pool_id, t.members.c.address == member.address)
                    .values(**values)
                )
            else:
                last = (
                    await conn.execute(
                        select(func.max(t.members.c.position)).where(t.members.c.pool_id == pool_id)
                    )
                ).scalar()
                position = 0 if last is None else last + 1
                await conn.execute(
                    insert(t.members).values(pool_id=pool_id, position=position, **values)
                )
            target = _target(name, member.address)
            action = "member.replace" if before is not None else "member.create"
            await self._audit(conn, actor, action, target, before, member)
            return await self._touch(conn, pool_id, version)

    async def delete_member(
        self,
        pool_name: str,
        address: str,
        if_version: int | None = None,
        *,
        actor: str = LOCAL_ACTOR,
    ) -> int:
        """Remove one member; NotFound (pool or member), StaleVersion. Returns the version."""
        name = fqdn(pool_name)
        async with self._write(f"pool {name} member {address}") as conn:
            await lock_writers(conn)
            pool_id, version = await existing(conn, name, if_version)
            before = await _member(conn, pool_id, address)
            if before is None:
                raise NotFound(f"pool {name} has no member {address}")
            await conn.execute(
                delete(t.members).where(
                    t.members.c.pool_id == pool_id, t.members.c.address == address
                )
            )
            await self._audit(conn, actor, "member.delete", _target(name, address), before, None)
            return await self._touch(conn, pool_id, version)

    # -- audit ------------------------------------------------------------------------

    async def record_audit(
        self, actor: str, action: str, target: str, before: Any = None, after: Any = None
    ) -> None:
        """An audit row for a change that lives outside the database (a zone reload)."""
        async with self._write(f"audit {action}") as conn:
            await write_audit(conn, self._clock(), actor, action, target, before, after)

    async def list_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Audit rows newest first, filtered (target as a prefix); before_id pages back."""
        async with self._read() as conn:
            return await read_audit(
                conn, actor=actor, action=action, target=target, before_id=before_id, limit=limit
            )

    # -- internals --------------------------------------------------------------------

    async def _touch(self, conn: AsyncConnection, pool_id: int, version: int) -> int:
        """A member changed: the pool's version and change generation move with it."""
        generation = await self._bump(conn)
        await conn.execute(
            update(t.pools)
            .where(t.pools.c.id == pool_id)
            .values(version=version + 1, updated_at=self._clock(), changed_generation=generation)
        )
        return version + 1


async def _member(conn: AsyncConnection, pool_id: int, address: str) -> Member | None:
    query = select(t.members).where(t.members.c.pool_id == pool_id, t.members.c.address == address)
    r = (await conn.execute(query)).one_or_none()
    if r is None:
        return None
    return Member(
        r.address, r.weight, r.region, r.latitude, r.longitude, r.priority, r.enabled, r.url
    )


def _target(pool_name: str, address: str | None = None) -> str:
    return f"pools/{pool_name}" if address is None else f"pools/{pool_name}/members/{address}"
