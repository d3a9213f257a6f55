"""Health in the database: probes' latest reports, each address's decided state, transitions.

Control plane: does I/O. HealthMethods are Store's health calls; the functions below work
on the caller's connection. Deciding what reports mean is not done here: callers pass
the decided state, or a decide function, in. The decide function gets, and the store
keeps, each address's flap damping memory (FlapHistory) in the same transaction as the
reports it decides from, under the writers' lock, so every node decides alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from geodns.health.state import NO_HISTORY, Decision, FlapHistory
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
class AddressState:
    address: str
    down: bool
    reason: str
    since: datetime
    probes: dict[str, bool]  # probe name -> says down
    history: FlapHistory = NO_HISTORY  # flap damping's memory of this address


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


# (one address's reports, its stored damping memory, now) -> what to serve and keep
Decide = Callable[[Sequence[Report], FlapHistory, datetime], Decision]


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
        self, probe: str, reports: Sequence[Report], now: datetime, decide: Decide
    ) -> list[HealthChange]:
        """Save a probe's batch of reports and re-decide each address, in one transaction.

        decide(every stored report on one address, its stored FlapHistory, now) is the
        health policy; the store keeps what it says. One HealthChange per address, in order.
        """
        async with self._write(f"reports from {probe}") as conn:
            await lock_writers(conn)
            for report in reports:
                await upsert_report(conn, report)
            addresses = list(dict.fromkeys(r.address for r in reports))
            redecided = await self._redecide(conn, addresses, now, decide, probe, always=True)
        self._count(redecided.changes)
        return redecided.changes

    async def redecide_health(self, now: datetime, decide: Decide) -> Redecided:
        """Vote again over every address with reports or a stored state, in one transaction
        under the writers' lock, and store what differs: reports expire and holds end
        without any new report. A report stored meanwhile waits for the lock, so this
        never writes over a newer decision. One HealthChange per address it wrote, and
        the earliest time any address's decision can change by itself.
        """
        async with self._write("health redecision") as conn:
            await lock_writers(conn)
            redecided = await self._redecide(conn, None, now, decide, "health", always=False)
        self._count(redecided.changes)
        return redecided

    async def _redecide(
        self,
        conn: AsyncConnection,
        addresses: Sequence[str] | None,
        now: datetime,
        decide: Decide,
        actor: str,
        *,
        always: bool,
    ) -> Redecided:
        """Decide addresses (None: every one known) from their reports and stored history;
        write each decision (always) or only those that differ from what is stored."""
        reports: dict[str, list[Report]] = {a: [] for a in addresses or ()}
        for report in await read_reports(conn, addresses):
            reports.setdefault(report.address, []).append(report)
        stored = {s.address: s for s in await read_states(conn, addresses=addresses)}
        chosen = addresses if addresses is not None else sorted(reports.keys() | stored.keys())
        changes = []
        dues = []
        for address in chosen:
            decision = decide(reports.get(address, []), _history(stored.get(address)), now)
            if decision.due is not None:
                dues.append(decision.due)
            old = stored.get(address)
            if not always:
                if old is None and not decision.down and not decision.votes:
                    if decision.history == NO_HISTORY:
                        continue  # never stored, nobody votes: up, as it already counts
                elif old is not None and _same(old, decision):
                    continue
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
        return Redecided(changes, min(dues, default=None))

    def _count(self, changes: Iterable[HealthChange]) -> None:
        """Count committed transitions (called after the transaction, never on rollback)."""
        for change in changes:
            if change.transition:
                self.transitions["down" if change.down else "up"] += 1

    async def list_address_health(self, down: bool | None = None) -> list[AddressState]:
        """Decided states in address order; down=True: only the failed addresses."""
        async with self._read() as conn:
            return await read_states(conn, down)

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
    history = FlapHistory(row.raw_down, tuple(float(t) for t in row.raw_changes), held_until)
    return AddressState(row.address, row.down, row.reason, row.since, row.probes, history)


def _history(state: AddressState | None) -> FlapHistory:
    """The stored damping memory; a never-seen address has none and counts as up."""
    return NO_HISTORY if state is None else state.history


def _same(state: AddressState, decision: Decision) -> bool:
    return (state.down, state.reason, dict(state.probes), state.history) == (
        decision.down,
        decision.reason,
        decision.votes,
        decision.history,
    )


def _history_values(history: FlapHistory) -> dict[str, Any]:
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
    history: FlapHistory | None = None,
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
        values.update(_history_values(FlapHistory(raw_down=down)))
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
    history: FlapHistory | None = None,
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
