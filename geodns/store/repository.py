"""Store: pools and health in SQLite or PostgreSQL, one transaction per call.

Control plane: async, does I/O. Callers see geodns values and geodns.errors only:
every driver error becomes StoreUnavailable (or Conflict for a constraint), never a
SQLAlchemy type. Every write that changes what a snapshot shows bumps the generation
in the same transaction and, on PostgreSQL, NOTIFYs geodns_changes with it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Row, delete, event, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from geodns.errors import ConfigError, Conflict, NotFound, StoreUnavailable
from geodns.pools.model import (
    AddressHealth,
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

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite+aiosqlite:///./geodns.db"
_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
_WRITE = "geodns_write"  # execution option: SQLite takes the write lock at BEGIN


class StaleVersion(Conflict):
    """If-Match named a version the pool no longer has (the API's 412)."""

    def __init__(self, name: str, expected: int, current: int) -> None:
        self.current_version = current
        super().__init__(
            f"pool {name} is at version {current}, not {expected}: read it again and retry"
        )


@dataclass(frozen=True, slots=True)
class StoreState:
    """Everything a snapshot needs, read in one transaction so the parts agree."""

    generation: int
    pools: tuple[Pool, ...]
    health: dict[str, AddressHealth]


@dataclass(frozen=True, slots=True)
class Report:
    probe: str
    address: str
    down: bool
    reason: str
    reported_at: datetime
    ttl_s: float


@dataclass(frozen=True, slots=True)
class AddressState:
    address: str
    down: bool
    reason: str
    since: datetime
    probes: dict[str, bool]  # probe name -> says down


@dataclass(frozen=True, slots=True)
class Transition:
    address: str
    at: datetime
    down: bool
    reason: str
    votes: dict[str, bool]


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


class Store:
    """Pools, members, rules and health; open with `await Store.open(url)`."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock
        self._postgres = engine.dialect.name == "postgresql"

    @classmethod
    async def open(cls, url: str, *, clock: Callable[[], datetime] | None = None) -> Store:
        """Connect once to prove the database answers; StoreUnavailable if it does not."""
        store = cls(open_engine(url), clock or (lambda: datetime.now(UTC)))
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

    # -- reads ------------------------------------------------------------------------

    async def generation(self) -> int:
        async with self._read() as conn:
            return await _generation(conn)

    async def list_pools(
        self, zone: str | None = None, limit: int | None = None, after: str | None = None
    ) -> list[Pool]:
        """Pools in name order, optionally those at or below zone, after a name (exclusive)."""
        where: list[ColumnElement[bool]] = []
        if zone is not None:
            origin = _fqdn(zone)
            where.append(
                (t.pools.c.name == origin) | t.pools.c.name.endswith("." + origin, autoescape=True)
            )
        if after is not None:
            where.append(t.pools.c.name > _fqdn(after))
        async with self._read() as conn:
            return [pool for pool, _ in await _load_pools(conn, where, limit)]

    async def get_pool(self, name: str) -> tuple[Pool, int]:
        """The pool and its version; NotFound."""
        async with self._read() as conn:
            found = await _load_pools(conn, [t.pools.c.name == _fqdn(name)], None)
        if not found:
            raise NotFound(f"no pool {_fqdn(name)}")
        return found[0]

    async def load_state(self) -> StoreState:
        async with self._read() as conn:
            gen = await _generation(conn)
            loaded = await _load_pools(conn, [], None)
            rows = await conn.execute(select(t.address_health))
            health = {r.address: AddressHealth(down=r.down, reason=r.reason) for r in rows}
        return StoreState(gen, tuple(pool for pool, _ in loaded), health)

    # -- pool writes ------------------------------------------------------------------

    async def create_pool(self, pool: Pool) -> int:
        """Insert a new pool; Conflict if the name is taken. Returns its version (1)."""
        async with self._write(f"pool {pool.name}") as conn:
            await _lock(conn)
            if await _pool_row(conn, pool.name) is not None:
                raise Conflict(f"pool {pool.name} already exists")
            now = self._clock()
            pool_id = (
                await conn.execute(
                    insert(t.pools)
                    .values(**_pool_values(pool), version=1, created_at=now, updated_at=now)
                    .returning(t.pools.c.id)
                )
            ).scalar_one()
            await _insert_children(conn, pool_id, pool)
            await self._bump(conn)
            return 1

    async def replace_pool(self, pool: Pool, if_version: int | None = None) -> int:
        """Replace every field, member and rule; NotFound, StaleVersion. Returns the version."""
        async with self._write(f"pool {pool.name}") as conn:
            await _lock(conn)
            pool_id, version = await _existing(conn, pool.name, if_version)
            await conn.execute(
                update(t.pools)
                .where(t.pools.c.id == pool_id)
                .values(**_pool_values(pool), version=version + 1, updated_at=self._clock())
            )
            await conn.execute(delete(t.members).where(t.members.c.pool_id == pool_id))
            await conn.execute(delete(t.rules).where(t.rules.c.pool_id == pool_id))
            await _insert_children(conn, pool_id, pool)
            await self._bump(conn)
            return version + 1

    async def delete_pool(self, name: str, if_version: int | None = None) -> None:
        """Delete the pool with its members and rules; NotFound, StaleVersion."""
        async with self._write(f"pool {_fqdn(name)}") as conn:
            await _lock(conn)
            pool_id, _ = await _existing(conn, _fqdn(name), if_version)
            await conn.execute(delete(t.pools).where(t.pools.c.id == pool_id))
            await self._bump(conn)

    async def upsert_member(
        self, pool_name: str, member: Member, if_version: int | None = None
    ) -> int:
        """Replace the member with member.address, or append it; returns the pool's version."""
        name = _fqdn(pool_name)
        async with self._write(f"pool {name} member {member.address}") as conn:
            await _lock(conn)
            pool_id, version = await _existing(conn, name, if_version)
            values = _member_values(member)
            updated = await conn.execute(
                update(t.members)
                .where(t.members.c.pool_id == pool_id, t.members.c.address == member.address)
                .values(**values)
            )
            if updated.rowcount == 0:
                last = (
                    await conn.execute(
                        select(func.max(t.members.c.position)).where(t.members.c.pool_id == pool_id)
                    )
                ).scalar()
                position = 0 if last is None else last + 1
                await conn.execute(
                    insert(t.members).values(pool_id=pool_id, position=position, **values)
                )
            return await self._touch(conn, pool_id, version)

    async def delete_member(
        self, pool_name: str, address: str, if_version: int | None = None
    ) -> int:
        """Remove one member; NotFound (pool or member), StaleVersion. Returns the version."""
        name = _fqdn(pool_name)
        async with self._write(f"pool {name} member {address}") as conn:
            await _lock(conn)
            pool_id, version = await _existing(conn, name, if_version)
            deleted = await conn.execute(
                delete(t.members).where(
                    t.members.c.pool_id == pool_id, t.members.c.address == address
                )
            )
            if deleted.rowcount == 0:
                raise NotFound(f"pool {name} has no member {address}")
            return await self._touch(conn, pool_id, version)

    # -- health -----------------------------------------------------------------------

    async def save_report(
        self, probe: str, address: str, down: bool, reason: str, ttl_s: float, now: datetime
    ) -> None:
        """Keep probe's latest report on address (replacing its previous one).

        Reports are votes, not state: the generation moves only when set_address_health
        changes what the snapshot serves.
        """
        values = {
            "probe": probe,
            "address": address,
            "status": "down" if down else "up",
            "reason": reason,
            "reported_at": _aware(now),
            "ttl_s": float(ttl_s),
        }
        dialect_insert = postgresql_insert if self._postgres else sqlite_insert
        statement = dialect_insert(t.health_reports).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["probe", "address"],
            set_={
                key: statement.excluded[key] for key in values if key not in ("probe", "address")
            },
        )
        async with self._write(f"report {probe} {address}") as conn:
            await conn.execute(statement)

    async def list_reports(self, address: str | None = None) -> list[Report]:
        query = select(t.health_reports).order_by(
            t.health_reports.c.address, t.health_reports.c.probe
        )
        if address is not None:
            query = query.where(t.health_reports.c.address == address)
        async with self._read() as conn:
            rows = await conn.execute(query)
            return [
                Report(r.probe, r.address, r.status == "down", r.reason, r.reported_at, r.ttl_s)
                for r in rows
            ]

    async def set_address_health(
        self, address: str, down: bool, reason: str, probes: Mapping[str, bool], now: datetime
    ) -> bool:
        """Store the decided state of address; True when up/down changed (a transition).

        The generation moves when (down, reason) changes; the votes alone do not move it.
        A never-seen address counts as up.
        """
        now = _aware(now)
        votes = {str(probe): bool(says_down) for probe, says_down in probes.items()}
        async with self._write(f"health {address}") as conn:
            await _lock(conn)
            row = (
                await conn.execute(
                    select(t.address_health).where(t.address_health.c.address == address)
                )
            ).one_or_none()
            was_down = row.down if row is not None else False
            values = {"down": down, "reason": reason, "probes": votes}
            if row is None:
                await conn.execute(
                    insert(t.address_health).values(address=address, since=now, **values)
                )
            else:
                if was_down != down:
                    values["since"] = now
                await conn.execute(
                    update(t.address_health)
                    .where(t.address_health.c.address == address)
                    .values(**values)
                )
            if was_down != down:
                await conn.execute(
                    insert(t.health_transitions).values(
                        address=address, at=now, down=down, reason=reason, votes=votes
                    )
                )
            if row is None or (row.down, row.reason) != (down, reason):
                await self._bump(conn)
            return was_down != down

    async def list_address_health(self, down: bool | None = None) -> list[AddressState]:
        """Decided states in address order; down=True: only the failed addresses."""
        query = select(t.address_health).order_by(t.address_health.c.address)
        if down is not None:
            query = query.where(t.address_health.c.down == down)
        async with self._read() as conn:
            rows = await conn.execute(query)
            return [AddressState(r.address, r.down, r.reason, r.since, r.probes) for r in rows]

    async def list_transitions(self, address: str, limit: int = 20) -> list[Transition]:
        """The address's up/down changes, newest first."""
        table = t.health_transitions
        query = (
            select(table)
            .where(table.c.address == address)
            .order_by(table.c.at.desc(), table.c.id.desc())
            .limit(limit)
        )
        async with self._read() as conn:
            rows = await conn.execute(query)
            return [Transition(r.address, r.at, r.down, r.reason, r.votes) for r in rows]

    # -- internals --------------------------------------------------------------------

    def _read(self) -> Any:
        return transaction(self._engine, write=False)

    def _write(self, what: str) -> Any:
        return transaction(self._engine, write=True, what=what)

    async def _touch(self, conn: AsyncConnection, pool_id: int, version: int) -> int:
        await conn.execute(
            update(t.pools)
            .where(t.pools.c.id == pool_id)
            .values(version=version + 1, updated_at=self._clock())
        )
        await self._bump(conn)
        return version + 1

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


async def _generation(conn: AsyncConnection) -> int:
    value = (
        await conn.execute(
            select(t.generation.c.value).where(t.generation.c.id == t.GENERATION_ROW_ID)
        )
    ).scalar_one_or_none()
    if value is None:
        raise StoreUnavailable("generation row missing: run geodns db upgrade")
    return int(value)


async def _lock(conn: AsyncConnection) -> None:
    """Serialise writers on the generation row (PostgreSQL; SQLite's BEGIN IMMEDIATE does it)."""
    await conn.execute(
        select(t.generation.c.value)
        .where(t.generation.c.id == t.GENERATION_ROW_ID)
        .with_for_update()
    )


async def _pool_row(conn: AsyncConnection, name: str) -> Row[Any] | None:
    query = select(t.pools.c.id, t.pools.c.version).where(t.pools.c.name == name)
    return (await conn.execute(query)).one_or_none()


async def _existing(conn: AsyncConnection, name: str, if_version: int | None) -> tuple[int, int]:
    row = await _pool_row(conn, name)
    if row is None:
        raise NotFound(f"no pool {name}")
    if if_version is not None and if_version != row.version:
        raise StaleVersion(name, if_version, row.version)
    return row.id, row.version


async def _insert_children(conn: AsyncConnection, pool_id: int, pool: Pool) -> None:
    if pool.members:
        await conn.execute(
            insert(t.members),
            [
                {"pool_id": pool_id, "position": i, **_member_values(m)}
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


async def _load_pools(
    conn: AsyncConnection, where: Iterable[ColumnElement[bool]], limit: int | None
) -> list[tuple[Pool, int]]:
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
            (_pool_from_row(row, members_of.get(row.id, ()), rules_of.get(row.id, ())), row.version)
            for row in pool_rows
        ]
    except (ValueError, TypeError, KeyError) as exc:
        raise StoreUnavailable(f"unreadable pool row: {exc}") from exc


def _pool_from_row(row: Row[Any], members: Sequence[Member], rules: Sequence[Rule]) -> Pool:
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
        check=None if row.check is None else _check_from_json(row.check),
    )


def _check_from_json(doc: dict[str, Any]) -> Check:
    fields = dict(doc)
    fields["type"] = CheckType(fields["type"])
    if "expect_status" in fields:
        low, high = fields["expect_status"]
        fields["expect_status"] = (low, high)
    return Check(**fields)


def _pool_values(pool: Pool) -> dict[str, Any]:
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


def _member_values(member: Member) -> dict[str, Any]:
    return {
        "address": member.address,
        "weight": member.weight,
        "region": member.region,
        "latitude": member.latitude,
        "longitude": member.longitude,
        "priority": member.priority,
        "enabled": member.enabled,
    }


def _fqdn(name: str) -> str:
    name = name.lower()
    return name if name.endswith(".") else name + "."


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now.isoformat()}: pass a timezone-aware UTC time")
    return now.astimezone(UTC)
