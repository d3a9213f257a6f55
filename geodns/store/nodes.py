"""Node heartbeats in the database: which geodns nodes share it, and how current each is.

Control plane: does I/O. NodeMethods are Store's heartbeat calls. A beat is one upsert of
the node's own row, outside the generation: it changes nothing a snapshot shows, so it
wakes no other node.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from geodns.store import tables as t
from geodns.store.core import StoreCore, read_generation


@dataclass(frozen=True, slots=True)
class NodeBeat:
    """What a node says about itself every few seconds."""

    name: str
    version: str
    started_at: datetime
    snapshot_generation: int  # its local snapshot counter
    store_generation: int  # the database generation its snapshot reflects
    behind_since: datetime | None  # since when it has served less than the database holds


@dataclass(frozen=True, slots=True)
class Node:
    beat: NodeBeat
    last_seen: datetime
    store_head: int  # the database's generation when that beat was written


class NodeMethods(StoreCore):
    async def save_heartbeat(self, beat: NodeBeat) -> int:
        """Record beat as the node's latest; returns the database's generation now."""
        async with self._write(f"heartbeat {beat.name}") as conn:
            head = await read_generation(conn)
            values = {
                "version": beat.version,
                "started_at": beat.started_at,
                "last_seen": self._clock(),
                "snapshot_generation": beat.snapshot_generation,
                "store_generation": beat.store_generation,
                "store_head": head,
                "behind_since": beat.behind_since,
            }
            table = t.nodes
            done = await conn.execute(update(table).where(table.c.name == beat.name).values(values))
            if done.rowcount == 0:
                await conn.execute(insert(table).values(name=beat.name, **values))
            return head

    async def list_nodes(self) -> list[Node]:
        """Every node that ever beat, by name."""
        async with self._read() as conn:
            return await read_nodes(conn)


async def read_nodes(conn: AsyncConnection) -> list[Node]:
    rows = await conn.execute(select(t.nodes).order_by(t.nodes.c.name))
    return [
        Node(
            NodeBeat(
                r.name,
                r.version,
                r.started_at,
                r.snapshot_generation,
                r.store_generation,
                r.behind_since,
            ),
            r.last_seen,
            r.store_head,
        )
        for r in rows
    ]
