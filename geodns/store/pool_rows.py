"""Pools <-> rows: reading and writing the pools, members and rules tables on a connection.

Control plane: does I/O on the connection it is given, inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from geodns.errors import NotFound, StaleVersion, StoreUnavailable
from geodns.pools.model import (
    Check,
    CheckType,
    MatchKind,
    Member,
    Policy,
    Pool,
    Rule,
    check_to_document,
)
from geodns.store import tables as t


def fqdn(name: str) -> str:
    name = name.lower()
    return name if name.endswith(".") else name + "."


async def pool_row(conn: AsyncConnection, name: str) -> Row[Any] | None:
    query = select(t.pools.c.id, t.pools.c.version).where(t.pools.c.name == name)
    return (await conn.execute(query)).one_or_none()


async def existing(conn: AsyncConnection, name: str, if_version: int | None) -> tuple[int, int]:
    """(id, version) of the pool; NotFound, or StaleVersion when if_version is not current."""
    row = await pool_row(conn, name)
    if row is None:
        raise NotFound(f"no pool {name}")
    if if_version is not None and if_version != row.version:
        raise StaleVersion(name, if_version, row.version)
    return row.id, row.version


async def insert_children(conn: AsyncConnection, pool_id: int, pool: Pool) -> None:
    if pool.members:
        await conn.execute(
            insert(t.members),
            [
                {"pool_id": pool_id, "position": i, **member_values(m)}
                for i, m in enumerate(pool.members)
            ],
        )
    if pool.rules:
        await conn.execute(
            insert(t.rules),
            [
                {
                    "pool_id": pool_id,
                    "position": i,
                    "kind": rule.kind.value,
                    "value": rule.value,
                    "regions": list(rule.regions),
                }
                for i, rule in enumerate(pool.rules)
            ],
        )


async def load_pools(
    conn: AsyncConnection, where: Iterable[ColumnElement[bool]], limit: int | None
) -> list[tuple[Pool, int]]:
    """Pools in name order with their versions."""
    query = select(t.pools).where(*where).order_by(t.pools.c.name)
    if limit is not None:
        query = query.limit(limit)
    pool_rows = (await conn.execute(query)).all()
    if not pool_rows:
        return []
    ids = [row.id for row in pool_rows]
    only = limit is not None or len(pool_rows) < 500  # a full load reads every child row
    member_query = select(t.members).order_by(t.members.c.pool_id, t.members.c.position)
    rule_query = select(t.rules).order_by(t.rules.c.pool_id, t.rules.c.position)
    if only:
        member_query = member_query.where(t.members.c.pool_id.in_(ids))
        rule_query = rule_query.where(t.rules.c.pool_id.in_(ids))
    members_of: dict[int, list[Member]] = {}
    rules_of: dict[int, list[Rule]] = {}
    try:
        for r in await conn.execute(member_query):
            members_of.setdefault(r.pool_id, []).append(
                Member(
                    r.address, r.weight, r.region, r.latitude, r.longitude, r.priority, r.enabled
                )
            )
        for r in await conn.execute(rule_query):
            rules_of.setdefault(r.pool_id, []).append(
                Rule(MatchKind(r.kind), r.value, tuple(r.regions))
            )
        return [
            (pool_from_row(row, members_of.get(row.id, ()), rules_of.get(row.id, ())), row.version)
            for row in pool_rows
        ]
    except (ValueError, TypeError, KeyError) as exc:
        raise StoreUnavailable(f"unreadable pool row: {exc}") from exc


async def load_pool(conn: AsyncConnection, name: str) -> Pool | None:
    found = await load_pools(conn, [t.pools.c.name == name], None)
    return found[0][0] if found else None


def pool_from_row(row: Row[Any], members: Sequence[Member], rules: Sequence[Rule]) -> Pool:
    return Pool(
        name=row.name,
        members=tuple(members),
        rules=tuple(rules),
        ttl=row.ttl,
        policy=Policy(row.policy),
        max_answers=row.max_answers,
        min_healthy_fraction=row.min_healthy_fraction,
        fail_open=row.fail_open,
        default_regions=None if row.default_regions is None else tuple(row.default_regions),
        check=None if row.check is None else check_from_json(row.check),
    )


def check_from_json(doc: dict[str, Any]) -> Check:
    fields = dict(doc)
    fields["type"] = CheckType(fields["type"])
    if "expect_status" in fields:
        low, high = fields["expect_status"]
        fields["expect_status"] = (low, high)
    return Check(**fields)


def pool_values(pool: Pool) -> dict[str, Any]:
    return {
        "name": pool.name,
        "ttl": pool.ttl,
        "policy": pool.policy.value,
        "max_answers": pool.max_answers,
        "min_healthy_fraction": pool.min_healthy_fraction,
        "fail_open": pool.fail_open,
        "default_regions": None if pool.default_regions is None else list(pool.default_regions),
        "check": None if pool.check is None else check_to_document(pool.check),
    }


def member_values(member: Member) -> dict[str, Any]:
    return {
        "address": member.address,
        "weight": member.weight,
        "region": member.region,
        "latitude": member.latitude,
        "longitude": member.longitude,
        "priority": member.priority,
        "enabled": member.enabled,
    }
