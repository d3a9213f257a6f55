"""Health in the database: probes' latest reports, each address's decided state, transitions.

Control plane: does I/O. HealthMethods are Store's health calls; the functions below work
on the caller's connection. Deciding what reports mean is not done here, nor which
decisions to write: callers pass the decided state, or a HealthPolicy (below; in
practice geodns.health.decider.HealthDecider) whose plan says what to write. The policy
gets, and the store keeps, each address's flap damping memory (FlapMemory) in the same
transaction as the reports it decides from, under the writers' lock, so every node
decides alike. The store imports nothing of geodns.health: it names what it needs as
Protocols, as geodns.health.votes.Vote names a Report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from geodns.store import tables as t
from geodns.store.audit import write_audit
from geodns.store.changes import mark_health_changed
from geodns.store.core import StoreCore, lock_writers


@dataclass(frozen=True, slots=True)
class Report:
    probe: str
    address: str
    down: bool
    reason: str
    reported_at: datetime
    ttl_s: float


@dataclass(frozen=True, slots=True)
class FlapMemory:
    """Flap damping's memory of one address as stored beside its state: the latest voted
    state, when it changed (Unix seconds, newest last), and until when it is held down.
    What it means is geodns.health.damping's business."""

    raw_down: bool = False
    changes: tuple[float, ...] = ()
    held_until: float | None = None


@dataclass(frozen=True, slots=True)
class AddressState:
    address: str
    down: bool
    reason: str
    since: datetime
    probes: dict[str, bool]  # probe name -> says down
    history: FlapMemory = FlapMemory()  # flap damping's memory of this address


@dataclass(frozen=True, slots=True)
class Transition:
    address: str
    at: datetime
    down: bool
    reason: str
    votes: dict[str, bool]


@dataclass(frozen=True, slots=True)
class HealthChange:
    """What storing one address's decided state did."""

    address: str
    down: bool
    reason: str
    transition: bool  # up <-> down
    changed: bool  # (down, reason) moved: the snapshot serves something new
    before: AddressState | None  # None: never seen, counted as up
    # when the decision can next change with no new report (a report expiring, a hold
    # ending): the redecision loop's wake-up time; None: not by itself
    due: datetime | None = None


@dataclass(frozen=True, slots=True)
class Redecided:
    """What Store.redecide_health stored, and when a redecision is next due."""

    changes: list[HealthChange]
    next_due: datetime | None  # the earliest due over every address


class Memory(Protocol):
    """Damping memory to store (FlapMemory and geodns.health's FlapHistory fit)."""

    @property
    def raw_down(self) -> bool: ...
    @property
    def changes(self) -> tuple[float, ...]: ...
    @property
    def held_until(self) -> float | None: ...


class Decided(Protocol):
    """One address's decision, as the store writes it (geodns.health.votes.Decision fits)."""

    @property
    def down(self) -> bool: ...
    @property
    def reason(self) -> str: ...
    @property
    def votes(self) -> Mapping[str, bool]: ...  # probe -> says down
    @property
    def history(self) -> Memory: ...
    @property
    def due(self) -> datetime | None: ...  # when it can change with no new report


class Plan(Protocol):
    """What to write: address -> decision, in order; and when a redecision is next due."""

    @property
    def decisions(self) -> Mapping[str, Decided]: ...
    @property
    def next_due(self) -> datetime | None: ...


class HealthPolicy(Protocol):
    """Decides addresses from their reports and stored states, and says which decisions to
    write (geodns.health.decider.HealthDecider fits)."""

    def plan(
        self,
        reports: Mapping[str, Sequence[Report]],
        stored: Mapping[str, AddressState],
        addresses: Sequence[str] | None,
        now: datetime,
        *,
        always: bool = False,
    ) -> Plan: ...


class HealthMethods(StoreCore):
    """Store's health calls: reports, decided states, transitions.

    transitions counts the up/down changes this process committed, by new state ("up",
    "down"), whoever decided them (API reports, the built-in checker): metrics reads it.
    """

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime]) -> None:
        super().__init__(engine, clock)
        self.transitions: Counter[str] = Counter()

    async def save_report(
        self, probe: str, address: str, down: bool, reason: str, ttl_s: float, now: datetime
    ) -> None:
        """Keep probe's latest report on address (replacing its previous one).

        Reports are votes, not state: the generation moves only when set_address_health
        changes what the snapshot serves.
        """
        async with self._write(f"report {probe} {address}") as conn:
            await upsert_report(conn, Report(probe, address, down, reason, now, ttl_s))

    async def list_reports(self, address: str | None = None) -> list[Report]:
        async with self._read() as conn:
            return await read_reports(conn, None if address is None else [address])

    async def set_address_health(
        self,
        address: str,
        down: bool,
        reason: str,
        probes: Mapping[str, bool],
        now: datetime,
        *,
        actor: str = "health",
    ) -> bool:
        """Store the decided state of address; True when up/down changed (a transition).

        The generation moves when (down, reason) changes; the votes alone do not move it.
        A never-seen address counts as up. A transition writes an audit row by actor.
        """
        async with self._write(f"health {address}") as conn:
            await lock_writers(conn)
            change = await apply_health(conn, address, down, reason, probes, now, actor)
            if change.changed:
                await mark_health_changed(conn, [address], await self._bump(conn))
        self._count([change])
        return change.transition

    async def record_reports(
        self, probe: str, reports: Sequence[Report], now: datetime, policy: HealthPolicy
    ) -> list[HealthChange]:
        """Save a probe's batch of reports and re-decide each address, in one transaction.

        policy decides each address from every stored report on it and its stored
        FlapMemory; the store keeps what it says. One HealthChange per address, in order.
        """
        async with self._write(f"reports from {probe}") as conn:
            await lock_writers(conn)
            for report in reports:
                await upsert_report(conn, report)
            addresses = list(dict.fromkeys(r.address for r in reports))
            redecided = await self._redecide(conn, addresses, now, policy, probe, always=True)
        self._count(redecided.changes)
        return redecided.changes

    async def redecide_health(self, now: datetime, policy: HealthPolicy) -> Redecided:
        """Vote again over every address with reports or a stored state, in one transaction
        under the writers' lock, and store what differs: reports expire and holds end
        without any new report; which differ is the policy's plan. A report stored
        meanwhile waits for the lock, so this never writes over a newer decision. One
        HealthChange per address it wrote, and the earliest time any address's decision
        can change by itself.
        """
        async with self._write("health redecision") as conn:
            await lock_writers(conn)
            redecided = await self._redecide(conn, None, now, policy, "health", always=False)
        self._count(redecided.changes)
        return redecided

    async def _redecide(
        self,
        conn: AsyncConnection,
        addresses: Sequence[str] | None,
        now: datetime,
        policy: HealthPolicy,
        actor: str,
        *,
        always: bool,
    ) -> Redecided:
        """Read addresses' reports and states (None: every one known), and write what the
        policy's plan over them says."""
        reports: dict[str, list[Report]] = {a: [] for a in addresses or ()}
        for report in await read_reports(conn, addresses):
            reports.setdefault(report.address, []).append(report)
        stored = {s.address: s for s in await read_states(conn, addresses=addresses)}
        plan = policy.plan(reports, stored, addresses, now, always=always)
        changes = []
        for address, decision in plan.decisions.items():
            change = await apply_health(
                conn,
                address,
                decision.down,
                decision.reason,
                decision.votes,
                now,
                actor,
                decision.history,
            )
            changes.append(replace(change, due=decision.due))
        changed = [change.address for change in changes if change.changed]
        if changed:
            await mark_health_changed(conn, changed, await self._bump(conn))
        return Redecided(changes, plan.next_due)

    def _count(self, changes: Iterable[HealthChange]) -> None:
        """Count committed transitions (called after the transaction, never on rollback)."""
        for change in changes:
            if change.transition:
                self.transitions["down" if change.down else "up"] += 1

    async def list_address_health(self, down: bool | None = None) -> list[AddressState]:
        """Decided states in address order; down=True: only the failed addresses."""
        async with self._read() as conn:
            return await read_states(conn, down)

    async def address_states(
        self, addresses: Iterable[str]
    ) -> tuple[dict[str, AddressState], dict[str, list[Report]]]:
        """The decided state and the probes' reports of each of addresses, in one read
        (the console's view of a pool); an address never reported is in neither."""
        wanted = sorted(set(addresses))
        async with self._read() as conn:
            states = await read_states(conn, addresses=wanted)
            reports = await read_reports(conn, wanted)
        by_address: dict[str, list[Report]] = {}
        for report in reports:
            by_address.setdefault(report.address, []).append(report)
        return {s.address: s for s in states}, by_address

    async def address_health(self, address: str) -> AddressState | None:
        async with self._read() as conn:
            return await read_state(conn, address)

    async def list_transitions(self, address: str, limit: int = 20) -> list[Transition]:
        """The address's up/down changes, newest first."""
        async with self._read() as conn:
            return await read_transitions(conn, address, limit)


def aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now.isoformat()}: pass a timezone-aware UTC time")
    return now.astimezone(UTC)


async def upsert_report(conn: AsyncConnection, report: Report) -> None:
    """Keep the probe's latest report on the address (replacing its previous one)."""
    values = {
        "probe": report.probe,
        "address": report.address,
        "status": "down" if report.down else "up",
        "reason": report.reason,
        "reported_at": aware(report.reported_at),
        "ttl_s": float(report.ttl_s),
    }
    postgres = conn.dialect.name == "postgresql"
    statement = (postgresql_insert if postgres else sqlite_insert)(t.health_reports).values(
        **values
    )
    statement = statement.on_conflict_do_update(
        index_elements=["probe", "address"],
        set_={key: statement.excluded[key] for key in values if key not in ("probe", "address")},
    )
    await conn.execute(statement)


async def read_reports(
    conn: AsyncConnection, addresses: Iterable[str] | None = None
) -> list[Report]:
    table = t.health_reports
    query = select(table).order_by(table.c.address, table.c.probe)
    if addresses is not None:
        query = query.where(table.c.address.in_(sorted(set(addresses))))
    rows = await conn.execute(query)
    return [
        Report(r.probe, r.address, r.status == "down", r.reason, r.reported_at, r.ttl_s)
        for r in rows
    ]


async def read_state(conn: AsyncConnection, address: str) -> AddressState | None:
    query = select(t.address_health).where(t.address_health.c.address == address)
    row = (await conn.execute(query)).one_or_none()
    return None if row is None else _state(row)


async def read_states(
    conn: AsyncConnection, down: bool | None = None, addresses: Iterable[str] | None = None
) -> list[AddressState]:
    table = t.address_health
    query = select(table).order_by(table.c.address)
    if down is not None:
        query = query.where(table.c.down == down)
    if addresses is not None:
        query = query.where(table.c.address.in_(sorted(set(addresses))))
    return [_state(r) for r in await conn.execute(query)]


def _state(row: Any) -> AddressState:
    held_until = None if row.held_until is None else row.held_until.timestamp()
    history = FlapMemory(row.raw_down, tuple(float(t) for t in row.raw_changes), held_until)
    return AddressState(row.address, row.down, row.reason, row.since, row.probes, history)


def _history_values(history: Memory) -> dict[str, Any]:
    held_until = history.held_until
    return {
        "raw_down": history.raw_down,
        "raw_changes": list(history.changes),
        "held_until": None if held_until is None else datetime.fromtimestamp(held_until, UTC),
    }


async def store_state(
    conn: AsyncConnection,
    address: str,
    down: bool,
    reason: str,
    probes: Mapping[str, bool],
    now: datetime,
    history: Memory | None = None,
) -> HealthChange:
    """Write the decided state; a transition row when up/down changed. A never-seen address
    counts as up. history None keeps the stored damping memory (a new row: the decided
    state as the voted one). The caller bumps the generation when the change says changed."""
    now = aware(now)
    votes = {str(probe): bool(says_down) for probe, says_down in probes.items()}
    before = await read_state(conn, address)
    was_down = before.down if before is not None else False
    values: dict[str, Any] = {"down": down, "reason": reason, "probes": votes}
    if history is not None:
        values.update(_history_values(history))
    elif before is None:
        values.update(_history_values(FlapMemory(raw_down=down)))
    if before is None:
        await conn.execute(insert(t.address_health).values(address=address, since=now, **values))
    else:
        if was_down != down:
            values["since"] = now
        await conn.execute(
            update(t.address_health).where(t.address_health.c.address == address).values(**values)
        )
    if was_down != down:
        await conn.execute(
            insert(t.health_transitions).values(
                address=address, at=now, down=down, reason=reason, votes=votes
            )
        )
    changed = before is None or (before.down, before.reason) != (down, reason)
    return HealthChange(address, down, reason, was_down != down, changed, before)


async def apply_health(
    conn: AsyncConnection,
    address: str,
    down: bool,
    reason: str,
    probes: Mapping[str, bool],
    now: datetime,
    actor: str,
    history: Memory | None = None,
) -> HealthChange:
    """store_state, plus an audit row by actor when up/down changed."""
    change = await store_state(conn, address, down, reason, probes, now, history)
    if change.transition:
        before = change.before
        await write_audit(
            conn,
            aware(now),
            actor,
            "health.down" if down else "health.up",
            f"health/{address}",
            None if before is None else {"down": before.down, "reason": before.reason},
            {"down": down, "reason": reason, "votes": dict(probes)},
        )
    return change


async def read_transitions(conn: AsyncConnection, address: str, limit: int) -> list[Transition]:
    """The address's up/down changes, newest first."""
    table = t.health_transitions
    query = (
        select(table)
        .where(table.c.address == address)
        .order_by(table.c.at.desc(), table.c.id.desc())
        .limit(limit)
    )
    rows = await conn.execute(query)
    return [Transition(r.address, r.at, r.down, r.reason, r.votes) for r in rows]
