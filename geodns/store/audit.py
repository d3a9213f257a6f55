"""The audit log: one row per change, written on the change's own connection.

Control plane: does I/O on the connection it is given, so an audit row commits or rolls
back with the change it describes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from geodns.store import tables as t


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str  # the token's name, the probe, or "local" (the command line)
    action: str  # "pool.create", "member.delete", "health.down", "token.revoke", ...
    target: str  # "pools/www.example.com.", "pools/www.example.com./members/192.0.2.1"
    before: Any  # JSON document, None when the thing did not exist
    after: Any  # JSON document, None when the thing is gone


async def write_audit(
    conn: AsyncConnection,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    before: Any,
    after: Any,
) -> None:
    await conn.execute(
        insert(t.audit_log).values(
            at=at, actor=actor, action=action, target=target, before=before, after=after
        )
    )


async def read_audit(
    conn: AsyncConnection,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Newest first; target matches as a prefix ("pools/www.example.com." and its members)."""
    table = t.audit_log
    where: list[ColumnElement[bool]] = []
    if actor is not None:
        where.append(table.c.actor == actor)
    if action is not None:
        where.append(table.c.action == action)
    if target is not None:
        where.append(table.c.target.startswith(target, autoescape=True))
    if before_id is not None:
        where.append(table.c.id < before_id)
    query = select(table).where(*where).order_by(table.c.id.desc()).limit(limit)
    rows = await conn.execute(query)
    return [AuditEntry(r.id, r.at, r.actor, r.action, r.target, r.before, r.after) for r in rows]
