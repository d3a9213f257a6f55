"""Pools <-> rows: reading and writing the pools, members and rules tables on a connection.

Control plane: does I/O on the connection it is given, inside the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, Text, cast, insert, select
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

KINDS = {kind.value: kind for kind in MatchKind}  # faster than MatchKind(value), a million times


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
    conn: AsyncConnection,
    where: Iterable[ColumnElement[bool]],
    limit: int | None,
    *,
    ordered_by: ColumnElement[Any] | None = None,
) -> list[tuple[Pool, int]]:
    """Pools in name order with their versions.

    ordered_by: the column the database sorts by before the (Python) sort by name; for a
    condition on an indexed column, that column, or SQLite walks the name index instead.
    """
    where = list(where)
    p = t.pools.c
    # the JSON columns as text: decoded once per distinct value below (100k pools share a
    # handful of region orders and checks), not by the driver for every row
    query = (
        select(
            p.id,
            p.name,
            p.version,
            p.ttl,
            p.policy,
            p.max_answers,
            p.min_healthy_fraction,
            p.fail_open,
            cast(p.default_regions, Text).label("default_regions"),
            cast(p.check, Text).label("check"),
        )
        .where(*where)
        .order_by(p.name if ordered_by is None else ordered_by)
    )
    if limit is not None:
        query = query.limit(limit)
    pool_rows: list[Any] = list((await conn.execute(query)).all())
    if ordered_by is not None:
        pool_rows.sort(key=lambda row: str(row.name))
    if not pool_rows:
        return []
    m, r = t.members.c, t.rules.c
    # plain columns, read as tuples: a full load reads a million rows. Region labels and
    # rules' region lists repeat across pools: one object each (decoded once), not one per row
    member_query = select(
        m.pool_id,
        m.address,
        m.weight,
        m.region,
        m.latitude,
        m.longitude,
        m.priority,
        m.enabled,
        m.url,
    ).order_by(m.pool_id, m.position)
    rule_query = select(r.pool_id, r.kind, r.value, cast(r.regions, Text)).order_by(
        r.pool_id, r.position
    )
    if limit is not None or len(pool_rows) < 500:  # a page, or a few: by id
        ids = [row.id for row in pool_rows]
        member_query = member_query.where(m.pool_id.in_(ids))
        rule_query = rule_query.where(r.pool_id.in_(ids))
    elif where:  # many changed pools: their children, by the same condition
        chosen = select(t.pools.c.id).where(*where)
        member_query = member_query.where(m.pool_id.in_(chosen))
        rule_query = rule_query.where(r.pool_id.in_(chosen))
    members_of: dict[int, list[Member]] = {}
    rules_of: dict[int, list[Rule]] = {}
    regions: dict[str, tuple[str, ...]] = {}
    labels: dict[str, str] = {}
    try:
        member_rows: Sequence[Any] = (await conn.execute(member_query)).all()
        for pool_id, address, weight, region, lat, lon, priority, enabled, url in member_rows:
            members_of.setdefault(pool_id, []).append(
                Member(
                    address,
                    weight,
                    labels.setdefault(region, region),
                    lat,
                    lon,
                    priority,
                    enabled,
                    url,
                )
            )
        rule_rows: Sequence[Any] = (await conn.execute(rule_query)).all()
        known_rules: dict[tuple[str, str, str], Rule] = {}  # frozen: equal rules share one
        for pool_id, kind, value, regions_json in rule_rows:
            rule = known_rules.get((kind, value, regions_json))
            if rule is None:
                order = regions.get(regions_json)
                if order is None:
                    order = regions[regions_json] = tuple(json.loads(regions_json))
                rule = known_rules[(kind, value, regions_json)] = Rule(KINDS[kind], value, order)
            rules_of.setdefault(pool_id, []).append(rule)
        orders: dict[str | None, tuple[str, ...] | None] = {None: None}
        checks: dict[str | None, Check | None] = {None: None}
        for row in pool_rows:  # frozen values: pools with the same text share one object
            if row.default_regions not in orders:
                orders[row.default_regions] = tuple(json.loads(row.default_regions))
            if row.check not in checks:
                checks[row.check] = check_from_json(json.loads(row.check))
        return [
            (
                pool_from_values(
                    name,
                    tuple(members_of.get(pool_id, ())),
                    tuple(rules_of.get(pool_id, ())),
                    ttl,
                    policy,
                    max_answers,
                    fraction,
                    fail_open,
                    orders[default_regions],
                    checks[check],
                ),
                version,
            )
            for (
                pool_id,
                name,
                version,
                ttl,
                policy,
                max_answers,
                fraction,
                fail_open,
                default_regions,
                check,
            ) in pool_rows
        ]
    except (ValueError, TypeError, KeyError) as exc:
        raise StoreUnavailable(f"unreadable pool row: {exc}") from exc


async def load_pool(conn: AsyncConnection, name: str) -> Pool | None:
    found = await load_pools(conn, [t.pools.c.name == name], None)
    return found[0][0] if found else None


POLICIES = {policy.value: policy for policy in Policy}


def pool_from_values(
    name: str,
    members: tuple[Member, ...],
    rules: tuple[Rule, ...],
    ttl: int,
    policy: str,
    max_answers: int,
    min_healthy_fraction: float,
    fail_open: bool,
    default_regions: tuple[str, ...] | None,
    check: Check | None,
) -> Pool:
    """A Pool from its row's values (the JSON columns decoded)."""
    return Pool(
        name,
        members,
        rules,
        ttl,
        POLICIES[policy],
        max_answers,
        min_healthy_fraction,
        bool(fail_open),
        default_regions,
        check,
    )


# The stored JSON keeps the check's field names from before the unit joined them
# (interval, timeout), so that nodes of the previous release sharing the database still
# read what this one writes; either spelling is read.
STORED_CHECK_NAMES = {"interval_s": "interval", "timeout_s": "timeout"}


def check_to_json(check: Check) -> dict[str, Any]:
    return {STORED_CHECK_NAMES.get(k, k): v for k, v in check_to_document(check).items()}


def check_from_json(doc: dict[str, Any]) -> Check:
    fields = {k: v for k, v in doc.items() if k not in STORED_CHECK_NAMES.values()}
    for new, old in STORED_CHECK_NAMES.items():
        if old in doc:
            fields.setdefault(new, doc[old])
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
        "check": None if pool.check is None else check_to_json(pool.check),
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
        "url": member.url,
    }
