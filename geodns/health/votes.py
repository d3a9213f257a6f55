"""Probes' votes: the live reports on one address -> up or down, and why.

Pure: no I/O, no clock of its own: `now` is the store's aware datetime. A report is
anything shaped like a Vote (geodns.store.repository.Report is one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from geodns.health.damping import NO_HISTORY, FlapHistory


class Vote(Protocol):
    """One probe's latest report on an address (geodns.store.repository.Report fits)."""

    @property
    def probe(self) -> str: ...
    @property
    def down(self) -> bool: ...
    @property
    def reason(self) -> str: ...
    @property
    def reported_at(self) -> datetime: ...
    @property
    def ttl_s(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Decision:
    """The state an address should be served in, and the live votes behind it.

    votes maps probe name -> says down (the shape Store.set_address_health stores).
    history is the flap damping memory to store with it (HealthDecider fills it in).
    """

    down: bool
    reason: str  # "" when up
    votes: dict[str, bool]
    live: int  # probes whose report had not expired
    quorum: int  # down votes needed (0 when no probe is live)
    damped: bool = False  # held down by flap damping although the votes say up
    history: FlapHistory = NO_HISTORY  # the damping memory to store with it
    # when the decision can next change with no new report (a live report expiring, a
    # hold ending): when to decide again; None: not by itself (HealthDecider fills it in)
    due: datetime | None = None


def is_live(report: Vote, now: datetime) -> bool:
    """A report counts while now < reported_at + ttl."""
    return now < report.reported_at + timedelta(seconds=report.ttl_s)


def decide(reports: Iterable[Vote], now: datetime, quorum: int | None = None) -> Decision:
    """Vote over the live reports: down when at least `quorum` live probes say down.

    quorum None: a strict majority of the live probes (one probe: that probe). No live
    report: up. Unknown counts as up because an address only reaches a pool through an
    operator who put it there, and a probe that dies, or never started, must not pull it
    out of every answer; the fail-open and region guards in selection deal with the rest.
    An explicit quorum above the number of live probes cannot be met: the address is up.
    Several reports of one probe: its newest counts.
    """
    if quorum is not None and quorum < 1:
        raise ValueError(f"quorum must be at least 1, not {quorum}")
    newest: dict[str, Vote] = {}
    for report in reports:
        if is_live(report, now):
            kept = newest.get(report.probe)
            if kept is None or report.reported_at >= kept.reported_at:
                newest[report.probe] = report
    live = [newest[probe] for probe in sorted(newest)]
    votes = {r.probe: r.down for r in live}
    if not live:
        return Decision(False, "", votes, 0, 0)
    needed = quorum if quorum is not None else len(live) // 2 + 1
    against = [r for r in live if r.down]
    if len(against) < needed:
        return Decision(False, "", votes, len(live), needed)
    return Decision(True, _down_reason(against), votes, len(live), needed)


def _down_reason(against: Iterable[Vote]) -> str:
    """Each reason with its probes: "http 503 (node-a, probe-eu1); timeout after 2.0s (p3)"."""
    by_reason: dict[str, list[str]] = {}
    for report in against:
        by_reason.setdefault(report.reason or "reported down", []).append(report.probe)
    return "; ".join(f"{reason} ({', '.join(probes)})" for reason, probes in by_reason.items())


def next_expiry(reports: Iterable[Vote], now: datetime) -> datetime | None:
    """When the earliest live report expires (the decision may change then by itself)."""
    ends = [r.reported_at + timedelta(seconds=r.ttl_s) for r in reports if is_live(r, now)]
    return min(ends, default=None)
