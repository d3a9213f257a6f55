"""HealthService: what the API's /health routes do with probes' reports.

Control plane: does I/O through the Store. How reports combine is the configured
HealthDecider (geodns.health.decider: probe quorum, report expiry, flap damping), passed
in so that every decision about an address, from the API or the built-in checker, is
made by the same policy over the same stored damping history.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from geodns.store.repository import (
    AddressState,
    HealthChange,
    HealthPolicy,
    Report,
    Store,
    Transition,
)

TRANSITIONS_SHOWN = 20


@dataclass(frozen=True, slots=True)
class ReportIn:
    """One report as a probe sent it (validated by the API)."""

    address: str
    down: bool
    reason: str
    ttl_s: float


@dataclass(frozen=True, slots=True)
class ProbeView:
    probe: str
    down: bool
    reason: str
    reported_at: datetime
    ttl_s: float
    live: bool


@dataclass(frozen=True, slots=True)
class AddressView:
    """One address's health as GET /health/addresses/{address} shows it."""

    address: str
    state: AddressState | None  # None: never reported, counted as up
    probes: tuple[ProbeView, ...]
    transitions: tuple[Transition, ...]  # newest first


class HealthService:
    def __init__(self, store: Store, clock: Callable[[], datetime], policy: HealthPolicy) -> None:
        self._store = store
        self._clock = clock
        self._policy = policy

    def now(self) -> datetime:
        return self._clock()

    async def accept_reports(
        self, probe: str, reports: Sequence[ReportIn], now: datetime
    ) -> list[HealthChange]:
        """Store probe's batch and re-decide each address in one transaction.

        A change with .changed set moved what DNS serves: the caller refreshes the snapshot.
        """
        rows = [Report(probe, r.address, r.down, r.reason, now, r.ttl_s) for r in reports]
        return await self._store.record_reports(probe, rows, now, self._policy)

    async def failed(self, now: datetime) -> list[AddressState]:
        """The addresses served as down now, in address order."""
        return await self._store.list_address_health(down=True)

    async def address(self, address: str, now: datetime) -> AddressView:
        state = await self._store.address_health(address)
        reports = await self._store.list_reports(address)
        transitions = await self._store.list_transitions(address, TRANSITIONS_SHOWN)
        probes = tuple(
            ProbeView(
                r.probe,
                r.down,
                r.reason,
                r.reported_at,
                r.ttl_s,
                now < r.reported_at + timedelta(seconds=r.ttl_s),
            )
            for r in reports
        )
        return AddressView(address, state, probes, tuple(transitions))
