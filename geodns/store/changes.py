"""Changes since a generation: what a node that has generation G reads to catch up.

Control plane: does I/O on the caller's connection, inside the caller's transaction.
Every pool row carries the generation of its last change, every deleted pool leaves a
tombstone with the generation that deleted it, and every address_health row the
generation at which its (down, reason) last moved. Writers are serialised on the
generation row, so generations commit in order, and a reader that sees generation G
in its transaction sees exactly the changes up to G. Tombstones are pruned after
TOMBSTONE_KEEP; the newest pruned generation is the horizon, and changes since an older
generation can no longer be told: the reader gets everything instead (complete).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from geodns.dns.cookie import CookieSecrets
from geodns.errors import StoreUnavailable
from geodns.pools.model import AddressHealth, Pool
from geodns.store import tables as t
from geodns.store.dnssec_keys import ZoneSigning

# A node that was away longer than this (or behind more than a week of deletes) reloads
# everything: tombstones are small, but not kept forever.
TOMBSTONE_KEEP = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed after a generation, read in one transaction so the parts agree.

    complete: the store could not tell changes since that generation (first load, the
    tombstone horizon passed, or the database is behind it): pools_changed and health
    are then everything there is, and anything else the reader holds is gone.
    """

    generation: int  # the store's generation these changes bring the reader to
    complete: bool
    pools_changed: tuple[Pool, ...] = ()  # created or changed (every pool when complete)
    pools_deleted: tuple[str, ...] = ()  # names deleted (never set when complete)
    health: dict[str, AddressHealth] = field(default_factory=dict)  # changed addresses
    # every signed zone with its keys, when any zone's keys changed (always when complete);
    # None: no key changed since that generation
    signing: tuple[ZoneSigning, ...] | None = None
    # the DNS cookie secrets when they changed (always when complete, if there are any)
    cookie_secrets: CookieSecrets | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.complete
            or self.pools_changed
            or self.pools_deleted
            or self.health
            or self.signing is not None
            or self.cookie_secrets is not None
        )


async def read_generations(conn: AsyncConnection) -> tuple[int, int]:
    """(the current generation, the tombstone horizon)."""
    row = (
        await conn.execute(
            select(t.generation.c.value, t.generation.c.tombstone_horizon).where(
                t.generation.c.id == t.GENERATION_ROW_ID
            )
        )
    ).one_or_none()
    if row is None:
        raise StoreUnavailable("generation row missing: run geodns db upgrade")
    return int(row.value), int(row.tombstone_horizon)


async def read_deleted(conn: AsyncConnection, since: int) -> tuple[str, ...]:
    """Names of the pools deleted after generation since (and not created again)."""
    table = t.pool_tombstones
    query = select(table.c.name).where(table.c.generation > since)
    return tuple(sorted(row.name for row in await conn.execute(query)))


async def read_health(conn: AsyncConnection, since: int | None) -> dict[str, AddressHealth]:
    """Decided health per address; since: only those whose (down, reason) moved after it."""
    table = t.address_health
    query = select(table.c.address, table.c.down, table.c.reason)
    if since is not None:
        query = query.where(table.c.changed_generation > since)
    return {
        r.address: AddressHealth(down=r.down, reason=r.reason) for r in await conn.execute(query)
    }


async def mark_health_changed(
    conn: AsyncConnection, addresses: Iterable[str], generation: int
) -> None:
    """Record that these addresses' served health changed at generation."""
    chosen = sorted(set(addresses))
    if chosen:
        table = t.address_health
        await conn.execute(
            update(table).where(table.c.address.in_(chosen)).values(changed_generation=generation)
        )


async def clear_tombstone(conn: AsyncConnection, name: str) -> None:
    """A pool created under a deleted name: the pool row tells the change from now on."""
    await conn.execute(delete(t.pool_tombstones).where(t.pool_tombstones.c.name == name))


async def write_tombstone(conn: AsyncConnection, name: str, generation: int, now: datetime) -> None:
    """Leave name's tombstone at generation, and prune those older than TOMBSTONE_KEEP."""
    table = t.pool_tombstones
    await clear_tombstone(conn, name)
    await conn.execute(insert(table).values(name=name, generation=generation, deleted_at=now))
    newest_pruned = (
        await conn.execute(
            select(func.max(table.c.generation)).where(table.c.deleted_at < now - TOMBSTONE_KEEP)
        )
    ).scalar()
    if newest_pruned is not None:
        await conn.execute(delete(table).where(table.c.generation <= newest_pruned))
        await conn.execute(
            update(t.generation)
            .where(t.generation.c.id == t.GENERATION_ROW_ID)
            .values(tombstone_horizon=newest_pruned)
        )
